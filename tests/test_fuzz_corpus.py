"""Corpus files: round trip, merge on save, and clear per-file errors that do not stop the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fuzz.corpus import CorpusError, load_corpus, load_file, save_case
from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.render import render


def _spec(n: int) -> dict:
    """y = x + 1 over n fp32 elements: a real spec, since corpus files are rendered from theirs."""
    offs = S.bin_("+", S.bin_("*", S.pid(0), S.arg("BLOCK")), S.arange(8, "BLOCK"))
    m = S.bin_("<", S.var("offs"), S.arg("n"))
    body = [S.let("offs", offs), S.let("m", m),
            S.store(S.bin_("+", S.arg("y_ptr"), S.var("offs")),
                    S.bin_("+", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")), S.var("m"),
                                       S.const(0.0, "fp32")), S.const(1.0, "fp32")), S.var("m"))]
    return {"schema": 1, "name": "k", "grid": [1, 1, 1], "num_warps": 4, "body": body,
            "params": [{"name": "x_ptr", "kind": "ptr", "dtype": "fp32"},
                       {"name": "y_ptr", "kind": "ptr", "dtype": "fp32"},
                       {"name": "n", "kind": "scalar", "dtype": "int32", "value": n},
                       {"name": "BLOCK", "kind": "constexpr", "dtype": "", "value": 8}]}


def make_case(n: int = 8) -> KernelCase:
    """A hand-written case: the corpus and CLI tests need a KernelCase, not a generator."""
    spec = _spec(n)
    return KernelCase(
        spec=spec, source=render(spec), kernel_name="k",
        args=[Arg("x_ptr", "ptr", "fp32", buffer="x"), Arg("y_ptr", "ptr", "fp32", buffer="y"),
              Arg("n", "scalar", "int32", value=n), Arg("BLOCK", "constexpr", "", value=8)],
        buffers={"x": Buffer("x", "fp32", "in", np.arange(n, dtype=np.float32)),
                 "y": Buffer("y", "fp32", "out", np.zeros(n, dtype=np.float32))},
        grid=(1, 1, 1), features=["load", "store", "mask"], seed=3, generator_version="test")


EXPECTED = {"interpreter@3.9.0": {"kind": "ok", "signature": ""},
            "cuda@3.9.0:sm_90": {"kind": "crash", "signature": "cuda|crash|compile|SIGSEGV"}}


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    case = make_case()
    path = save_case(tmp_path / "corpus", case, EXPECTED, "found by test")
    assert path.name == f"{case.case_id}.json"
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1 and doc["note"] == "found by test"
    assert set(doc) >= {"schema", "case", "expected", "note"}
    entry = load_file(path)
    assert entry.case.case_id == case.case_id
    assert entry.expected == EXPECTED
    assert np.array_equal(entry.case.buffers["x"].data, case.buffers["x"].data)


def test_save_merges_expectations_and_keeps_unknown_keys(tmp_path: Path) -> None:
    case = make_case()
    path = save_case(tmp_path, case, {"a": {"kind": "ok", "signature": ""}}, "first")
    doc = json.loads(path.read_text())
    doc["triage"] = "filed as #123"
    path.write_text(json.dumps(doc))
    save_case(tmp_path, case, {"b": {"kind": "timeout", "signature": "b|timeout"}})
    entry = load_file(path)
    assert entry.expected == {"a": {"kind": "ok", "signature": ""},
                              "b": {"kind": "timeout", "signature": "b|timeout"}}
    assert entry.note == "first"
    assert json.loads(path.read_text())["triage"] == "filed as #123"


def _write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, message", [
    ('{"schema": 1, "case": ', r"malformed JSON at line 1 column"),
    ("[1, 2]", r"top level must be a JSON object"),
    ('{"case": {}, "expected": {}}', r"missing key 'schema'"),
    ('{"schema": 2, "case": {}, "expected": {}}', r"unsupported corpus schema 2"),
    ('{"schema": 1, "expected": {}}', r"missing key\(s\) 'case'"),
    ('{"schema": 1, "case": {"schema": 1}, "expected": {}}', r"case: lacks field\(s\) '\w+'"),
    ('{"schema": 1, "case": {"schema": 9}, "expected": {}}', r"case.schema: unsupported case schema 9"),
])
def test_malformed_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    bad = _write(tmp_path, "bad.json", text)
    with pytest.raises(CorpusError, match=message) as ei:
        load_file(bad)
    assert str(ei.value).startswith(str(bad))


@pytest.mark.parametrize("expected, message", [
    ([], r"'expected' must be an object"),
    ({"a": "ok"}, r"expected\['a'\] must be an object"),
    ({"a": {"signature": ""}}, r"expected\['a'\] is missing key 'kind'"),
    ({"a": {"kind": "exploded"}}, r"unknown kind 'exploded'"),
    ({"a": {"kind": "ok", "signature": 3}}, r"signature must be a string"),
])
def test_bad_expectations(tmp_path: Path, expected: object, message: str) -> None:
    doc = {"schema": 1, "case": make_case().to_json(), "expected": expected, "note": ""}
    bad = _write(tmp_path, "e.json", json.dumps(doc))
    with pytest.raises(CorpusError, match=message):
        load_file(bad)


def test_loader_continues_past_bad_files(tmp_path: Path) -> None:
    good = save_case(tmp_path / "c", make_case(8), EXPECTED)
    good2 = save_case(tmp_path / "c" / "sub", make_case(5), EXPECTED)
    _write(tmp_path / "c", "broken.json", "{not json")
    _write(tmp_path / "c", "README.md", "not a corpus file, ignored")
    entries, errors = load_corpus([tmp_path / "c", tmp_path / "missing"])
    assert sorted(e.path for e in entries) == sorted([good, good2])
    assert len(errors) == 2
    assert any("broken.json: malformed JSON" in e for e in errors)
    assert any("missing: no such file or directory" in e for e in errors)
