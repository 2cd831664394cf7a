"""A corpus file is untrusted input: crafted files run no code, create no file, and each gets one
clear line naming it while the good files beside it still replay.

Every bad file here is refused by the validator before anything is rendered or run. The three
injections of the field report (stored source, parameter name, kernel name) come first; the
others try every other place where text from the file reaches the rendered kernel, plus the
malformed inputs the report measured (non-UTF-8 bytes, deep nesting, wrong types, huge grids).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import generators
from fuzz.corpus import CorpusError, corpus_document, load_file
from generators.render import render
from generators.validate import CaseInvalid, validate_case

ROOT = Path(__file__).resolve().parents[1]
def _good_seed() -> int:
    """The first kernel with every node the injections edit (bin, pid, arange) and params of every kind."""
    from generators.spec import walk

    for seed in range(2000):
        case = generators.generate(seed)
        tags = {n["e"] for n in walk(case.spec["body"]) if isinstance(n.get("e"), str)}
        kinds = {p["kind"] for p in case.spec["params"]}
        if {"bin", "pid", "arange"} <= tags and kinds == {"ptr", "scalar", "constexpr"} and len(case.source) < 3000:
            return seed
    raise AssertionError("no generated kernel has what the injections edit")


SEED = _good_seed()


def good_doc() -> dict[str, Any]:
    case = generators.generate(SEED)
    from backends.registry import resolve

    return json.loads(json.dumps(corpus_document(case, {resolve("interpreter").name: {"kind": "ok"}})))


def _param(doc: dict[str, Any], kind: str) -> int:
    return next(i for i, p in enumerate(doc["case"]["spec"]["params"]) if p["kind"] == kind)


def _first(doc: dict[str, Any], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    from generators.spec import walk

    return next(n for n in walk(doc["case"]["spec"]["body"]) if pred(n))


def _rerender(doc: dict[str, Any]) -> None:
    """Make the stored source agree with the (crafted) spec, so only the validator can stop it."""
    try:
        doc["case"]["source"] = render(doc["case"]["spec"])
    except Exception:
        pass


def _rename_param(doc: dict[str, Any], kind: str, new: str) -> None:
    i = _param(doc, kind)
    old = doc["case"]["spec"]["params"][i]["name"]
    doc["case"]["spec"]["params"][i]["name"] = new
    doc["case"]["args"][i]["name"] = new
    from generators.spec import walk

    for n in walk(doc["case"]["spec"]["body"]):
        if n.get("e") == "arg" and n.get("name") == old:
            n["name"] = new
        if n.get("e") == "arange" and n.get("cx") == old:
            n["cx"] = new


def _set(pred: Callable[[dict[str, Any]], bool], key: str, value: Any) -> Callable[[dict[str, Any], str], None]:
    def mutate(doc: dict[str, Any], canary: str) -> None:
        _first(doc, pred)[key] = value.replace("CANARY", canary) if isinstance(value, str) else value
    return mutate


def _sys(canary: str) -> str:
    return f"__import__('os').system('touch {canary}')"


# name -> (mutation(doc, canary), fragment the one-line message must contain)
def _m_source(doc: dict[str, Any], c: str) -> None:
    doc["case"]["source"] += f"\nimport os\nos.system('touch {c}')\n"


def _m_param(doc: dict[str, Any], c: str) -> None:
    _rename_param(doc, "constexpr", f"BLOCK: tl.constexpr = {_sys(c)}")


def _m_kernel(doc: dict[str, Any], c: str) -> None:
    name = f"kernel():\n    pass\n{_sys(c)}\ndef kernel2"
    doc["case"]["spec"]["name"] = name
    doc["case"]["kernel_name"] = name


def _m_let(doc: dict[str, Any], c: str) -> None:
    _first(doc, lambda n: n.get("s") == "let")["name"] = f"x = {_sys(c)}\n    y"


def _m_arange_cx(doc: dict[str, Any], c: str) -> None:
    _first(doc, lambda n: n.get("e") == "arange")["cx"] = f"1) + {_sys(c)} + (1"


def _m_buffer_name(doc: dict[str, Any], c: str) -> None:
    case = doc["case"]
    a = next(a for a in case["args"] if a["kind"] == "ptr")
    old = a["buffer"]
    new = f"x'); {_sys(c)} #"
    case["buffers"][new] = dict(case["buffers"].pop(old), name=new)
    a["buffer"] = new


def _m_captured(doc: dict[str, Any], c: str) -> None:
    doc["case"]["kind"] = "captured"
    doc["case"]["source"] += f"\nimport os\nos.system('touch {c}')\n"


def _m_loop(doc: dict[str, Any], c: str) -> None:
    body = doc["case"]["spec"]["body"]
    body.append({"s": "for", "var": f"i in range(1):\n        {_sys(c)}\n    for j", "kind": "range",
                 "lo": {"e": "const", "v": 0, "dt": "int32"}, "hi": {"e": "const", "v": 1, "dt": "int32"},
                 "body": []})


def _m_deep_spec(doc: dict[str, Any], c: str) -> None:
    e: dict[str, Any] = {"e": "const", "v": 1, "dt": "int32"}
    for _ in range(200):
        e = {"e": "un", "op": "-", "x": e}
    doc["case"]["spec"]["body"].insert(0, {"s": "let", "name": "deep", "e": e})


def _m_reserved(doc: dict[str, Any], c: str) -> None:
    _first(doc, lambda n: n.get("s") == "let")["name"] = "tl"


def _m_shadow(doc: dict[str, Any], c: str) -> None:
    p = doc["case"]["spec"]["params"][0]["name"]
    _first(doc, lambda n: n.get("s") == "let")["name"] = p


def _m_case_id(doc: dict[str, Any], c: str) -> None:
    doc["case"]["case_id"] = "0123456789abcdef"


def _m_args(doc: dict[str, Any], c: str) -> None:
    doc["case"]["args"].pop()


def _m_base64(doc: dict[str, Any], c: str) -> None:
    next(iter(doc["case"]["buffers"].values()))["data"] = "!!!not base64!!!"


def _m_buf_dtype(doc: dict[str, Any], c: str) -> None:
    next(iter(doc["case"]["buffers"].values()))["dtype"] = "object"


def _m_source_type(doc: dict[str, Any], c: str) -> None:
    doc["case"]["source"] = 12345


def _m_edited_source(doc: dict[str, Any], c: str) -> None:
    doc["case"]["source"] = doc["case"]["source"].replace("def kernel(", "def kernel(  ")


def _m_grid(value: list[Any]) -> Callable[[dict[str, Any], str], None]:
    def mutate(doc: dict[str, Any], c: str) -> None:
        doc["case"]["spec"]["grid"] = list(value)
        doc["case"]["grid"] = list(value)
    return mutate


def _m_case_field(key: str, value: Any) -> Callable[[dict[str, Any], str], None]:
    def mutate(doc: dict[str, Any], c: str) -> None:
        doc["case"][key] = value
    return mutate


def _m_expected(doc: dict[str, Any], c: str) -> None:
    doc["expected"] = {"interpreter": {"kind": "exec"}}


def _m_scalar_value(doc: dict[str, Any], c: str) -> None:
    i = _param(doc, "scalar")
    doc["case"]["args"][i]["value"] = _sys(c)


def _m_constexpr_bool(doc: dict[str, Any], c: str) -> None:
    i = _param(doc, "constexpr")
    doc["case"]["spec"]["params"][i]["value"] = True
    doc["case"]["args"][i]["value"] = True


IS_BIN = lambda n: n.get("e") == "bin"  # noqa: E731
CASES: dict[str, tuple[Callable[[dict[str, Any], str], None], str]] = {
    # the three injections of the report
    "inject-source": (_m_source, "stored source differs"),
    "inject-param-name": (_m_param, "spec.params["),
    "inject-kernel-name": (_m_kernel, "kernel_name: name"),
    # every other place where text reaches the rendered kernel
    "inject-let-name": (_m_let, ".name: name"),
    "inject-for-var": (_m_loop, ".var: name"),
    "inject-arange-cx": (_m_arange_cx, ".cx: name"),
    "inject-bin-op": (_set(IS_BIN, "op", "+ __import__('os').system('touch CANARY') +"), ".op: operator"),
    "inject-un-op": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "un", "op": f"{_sys(c)} or -", "x": {"e": "const", "v": 1, "dt": "int32"}}}), "unary operator"),
    "inject-call-fn": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "call", "fn": f"exp(1.0) or {_sys(c)} or tl.exp", "args": [{"e": "const", "v": 1.0, "dt": "fp32"}]}}),
        ".fn: function"),
    "inject-reduce-fn": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "reduce", "fn": f"sum(tl.arange(0, 2)) or {_sys(c)} or tl.sum", "axis": 0,
        "x": {"e": "arange", "n": 2, "cx": None}}}), "reduce function"),
    "inject-pid-axis": (_set(lambda n: n.get("e") == "pid", "axis", "0) + __import__('os').system('touch CANARY') + (0")
                        if True else None, "program axis"),
    "inject-cast-dt": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "cast", "dt": f"fp32 {_sys(c)}", "x": {"e": "const", "v": 1, "dt": "int32"}}}), ".dt: dtype"),
    "inject-const-value": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "const", "v": _sys(c), "dt": "int32"}}), "int32 value must be a whole number"),
    "inject-full-shape": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "full", "shape": [_sys(c)], "v": 0, "dt": "int32"}}), "size must be a whole number"),
    "inject-dot-prec": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "dot", "a": {"e": "var", "name": "q"}, "b": {"e": "var", "name": "q"}, "acc": None,
        "prec": f"ieee', {_sys(c)}, '"}}), "input precision"),
    "inject-expand-axis": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "expand", "axis": f"{_sys(c)}", "x": {"e": "arange", "n": 2, "cx": None}}}), "axis must be"),
    "inject-var-name": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "var", "name": _sys(c)}}), ".name: name"),
    "inject-buffer-name": (_m_buffer_name, "case.buffers["),
    "inject-scalar-value": (_m_scalar_value, ".value"),
    "inject-unknown-node": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z", "e": {
        "e": "eval", "code": _sys(c)}}), "unknown expression kind"),
    "inject-unknown-stmt": (lambda d, c: d["case"]["spec"]["body"].insert(0, {"s": "exec", "code": _sys(c)}),
                            "unknown statement kind"),
    "inject-extra-field": (_set(IS_BIN, "code", "__import__('os').system('touch CANARY')"), "unknown field"),
    "captured-untrusted": (_m_captured, "--trust-captured"),
    # names Python or the renderer give a meaning to
    "reserved-name": (_m_reserved, "reserved"),
    "shadowing-local": (_m_shadow, "shadows the parameter"),
    # sizes and grids
    "grid-negative": (_m_grid([-4, 1, 1]), "outside 1.."),
    "grid-huge": (_m_grid([65535, 65535, 1]), "programs exceed"),
    "grid-2pow31": (_m_grid([2**31, 1, 1]), "outside 1.."),
    "grid-bool": (_m_grid([True, 1, 1]), "whole number"),
    "grid-float": (_m_grid([1.5, 1, 1]), "whole number"),
    "arange-huge": (_set(lambda n: n.get("e") == "arange", "n", 1 << 20), "arange size"),
    "deep-spec": (_m_deep_spec, "nested deeper"),
    "num-warps": (_m_case_field("num_warps", 3), "num_warps"),
    "constexpr-bool": (_m_constexpr_bool, "constexpr value"),
    # inconsistent or malformed content
    "source-wrong-type": (_m_source_type, "case.source: must be a string"),
    "source-edited": (_m_edited_source, "stored source differs"),
    "case-id-mismatch": (_m_case_id, "does not match its content"),
    "args-mismatch": (_m_args, "arguments for"),
    "bad-base64": (_m_base64, "not valid base64"),
    "bad-buffer-dtype": (_m_buf_dtype, "dtype"),
    "unknown-case-kind": (_m_case_field("kind", "python"), "case kind"),
    "expected-kind": (_m_expected, "unknown kind"),
}

RAW: dict[str, tuple[bytes, str]] = {
    "non-utf8": (b'{"schema": 1, "case": "\xff\xfe", "expected": {}}', "not UTF-8"),
    "deep-json": (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    "truncated": (b'{"schema": 1, "case": {', "malformed JSON"),
    "top-level-list": (b"[1, 2, 3]", "top level must be a JSON object"),
    "nan-constant": (None, "finite number"),  # type: ignore[dict-item]
    "empty": (b"", "malformed JSON"),
    "schema-bool": (b'{"schema": true, "case": {}, "expected": {}}', "unsupported corpus schema"),
}


def _write_bad(d: Path, canary: Path) -> dict[str, str]:
    base = good_doc()
    want: dict[str, str] = {}
    for name, (mutate, fragment) in CASES.items():
        doc = copy.deepcopy(base)
        mutate(doc, str(canary))
        if name not in ("inject-source", "captured-untrusted", "source-wrong-type", "source-edited"):
            _rerender(doc)
        (d / f"{name}.json").write_text(json.dumps(doc))
        want[name] = fragment
    for name, (raw, fragment) in RAW.items():
        if name == "nan-constant":
            doc = copy.deepcopy(base)
            doc["case"]["spec"]["body"].insert(0, {"s": "let", "name": "z",
                                                   "e": {"e": "const", "v": float("nan"), "dt": "fp32"}})
            raw = json.dumps(doc).encode()
        (d / f"{name}.json").write_bytes(raw)
        want[name] = fragment
    return want


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    d = tmp_path_factory.mktemp("corpus")
    canary = tmp_path_factory.mktemp("canary") / "PWNED"
    return d, canary, _write_bad(d, canary)


def test_good_file_loads() -> None:
    doc = good_doc()
    validate_case(doc["case"])


def test_enough_injections() -> None:
    assert sum(1 for n in CASES if n.startswith("inject-") or n == "captured-untrusted") >= 23
    assert len(CASES) + len(RAW) >= 45


@pytest.mark.parametrize("name", [*CASES, *RAW])
def test_each_bad_file_is_refused_with_one_clear_line(bad_dir: tuple[Path, Path, dict[str, str]],
                                                      name: str) -> None:
    d, canary, want = bad_dir
    path = d / f"{name}.json"
    with pytest.raises(CorpusError) as exc:
        load_file(path)
    msg = str(exc.value)
    assert msg.startswith(str(path) + ": "), msg
    assert "\n" not in msg and len(msg) < 400, msg
    assert want[name] in msg, msg
    assert not canary.exists()


def test_injected_text_would_reach_the_source() -> None:
    """The injections are real: rendering the crafted spec puts the attacker's code in the module."""
    doc = good_doc()
    _m_param(doc, "/tmp/x")
    assert "__import__('os').system" in render(doc["case"]["spec"])
    with pytest.raises(CaseInvalid):
        validate_case(doc["case"])


def test_captured_runs_only_when_trusted() -> None:
    doc = good_doc()
    doc["case"]["kind"] = "captured"
    with pytest.raises(CaseInvalid, match="--trust-captured"):
        validate_case(doc["case"])
    validate_case(doc["case"], trust_captured=True)


def test_replay_refuses_every_bad_file_and_still_replays_the_good_one(
        bad_dir: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    d, canary, want = bad_dir
    good = d / "good.json"
    good.write_text(json.dumps(good_doc()))
    before = sorted(p.name for p in d.iterdir())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(d), "--json", "--timeout", "120"],
                         cwd=cwd, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    good.unlink()
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert len(report["malformed"]) == len(want)
    for name in want:
        lines = [m for m in report["malformed"] if m.startswith(str(d / f"{name}.json") + ":")]
        assert len(lines) == 1, (name, report["malformed"])
    assert [Path(r["file"]).name for r in report["results"]] == ["good.json"]
    assert report["results"][0]["change"] == "unchanged", report["results"]
    assert not canary.exists()
    assert sorted(p.name for p in d.iterdir()) == [n for n in before if n != "good.json"] or \
        sorted(p.name for p in d.iterdir()) == sorted(n for n in before if n != "good.json")
    assert list(cwd.iterdir()) == []


def test_generated_cases_of_every_family_validate() -> None:
    """The validator walks the registry's field declarations: whatever the generator writes, a
    corpus file of it must load (no field kind it cannot check, no bound tighter than the grammar)."""
    import collections

    from generators import generate

    seen: collections.Counter[str] = collections.Counter()
    for seed in range(400):
        case = generate(seed)
        validate_case(case.to_json())
        seen.update(t for t in case.spec.get("tags", []) if t.startswith("family_"))
    assert len(seen) >= 5, seen
