"""Corpus files: one JSON per kept case, with the verdict each backend is expected to give.

A corpus replays without the generator that made it (the case carries its spec and inputs), so
it is what CI runs. A corpus file is untrusted input: the kernel source is always rendered from
the validated spec, never taken from the file. Loading is forgiving across files and strict
within one: a malformed file is reported by name and skipped, and the others still load.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS_SCHEMA = 1


class CorpusError(Exception):
    """A corpus file that cannot be used; the message starts with the file's path."""


@dataclass
class CorpusEntry:
    """One loaded corpus file."""

    path: Path
    case: Any  # generators.case.KernelCase
    expected: dict[str, dict[str, str]]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept on rewrite

    def to_json(self) -> dict[str, Any]:
        return corpus_document(self.case, self.expected, self.note, self.extra)


def corpus_document(case: Any, expected: dict[str, dict[str, str]], note: str = "",
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = dict(extra or {})
    doc.update({"schema": CORPUS_SCHEMA, "case": case.to_json(),
                "expected": {b: {"kind": e["kind"], "signature": e.get("signature", "")}
                             for b, e in sorted(expected.items())},
                "note": note})
    return doc


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a killed process never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_case(corpus_dir: str | Path, case: Any, expected: dict[str, dict[str, str]],
              note: str = "", extra: dict[str, Any] | None = None) -> Path:
    """Write `<corpus_dir>/<case_id>.json`; merge expectations if the file already exists.

    `extra` holds top-level keys beside the case, e.g. "variants": the metamorphic forms whose
    verdicts (`meta:<relation>:<backend>`) the file expects.
    """
    path = Path(corpus_dir) / f"{case.case_id}.json"
    extra = dict(extra or {})
    if path.exists():
        try:
            old = load_file(path)
            expected = {**old.expected, **expected}
            note = note or old.note
            extra = {**old.extra, **extra}
        except CorpusError:
            pass  # overwrite a broken file with a good one
    write_json_atomic(path, corpus_document(case, expected, note, extra))
    return path


def _validate_expected(path: Path, expected: Any) -> dict[str, dict[str, str]]:
    from oracles.outcome import KINDS

    if not isinstance(expected, dict):
        raise CorpusError(f"{path}: 'expected' must be an object {{backend: {{kind, signature}}}}")
    out: dict[str, dict[str, str]] = {}
    for backend, e in expected.items():
        if not isinstance(e, dict):
            raise CorpusError(f"{path}: expected[{backend!r}] must be an object with 'kind' and 'signature'")
        if "kind" not in e:
            raise CorpusError(f"{path}: expected[{backend!r}] is missing key 'kind'")
        if e["kind"] not in KINDS:
            raise CorpusError(f"{path}: expected[{backend!r}] has unknown kind {e['kind']!r}; "
                              f"known kinds: {', '.join(KINDS)}")
        sig = e.get("signature", "")
        if not isinstance(sig, str):
            raise CorpusError(f"{path}: expected[{backend!r}].signature must be a string")
        out[str(backend)] = {"kind": e["kind"], "signature": sig}
    return out


MAX_FILE_BYTES = 128 << 20


def load_file(path: str | Path, trust_captured: bool = False) -> CorpusEntry:
    """Load and validate one corpus file, or raise CorpusError naming it.

    The file is data: its case is validated (generators.validate) and its kernel source is
    rendered from the validated spec. A stored `source` that differs from that rendering is
    refused, never run. Only a case marked kind "captured" keeps its stored source, and only with
    `trust_captured` or when this user's `tritondiff capture` wrote it (fuzz.capture_trust).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CorpusError(f"{p}: file of {size} bytes exceeds the {MAX_FILE_BYTES >> 20} MiB a case may take")
        raw = p.read_bytes()
    except OSError as e:
        raise CorpusError(f"{p}: cannot read: {e.strerror or e}") from e
    if not trust_captured and b'"captured"' in raw:
        from fuzz.capture_trust import is_signed

        trust_captured = is_signed(p, raw)  # written by this user's own `tritondiff capture`
    return parse_document(raw, p, trust_captured)


def parse_document(raw: bytes, p: Path, trust_captured: bool = False) -> CorpusEntry:
    """A CorpusEntry from the bytes of a corpus file (named `p` in messages), or CorpusError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{p}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{p}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise CorpusError(f"{p}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal with too many digits
        raise CorpusError(f"{p}: malformed JSON: {e}") from None
    if not isinstance(doc, dict):
        raise CorpusError(f"{p}: top level must be a JSON object, got {type(doc).__name__}")
    if "schema" not in doc:
        raise CorpusError(f"{p}: missing key 'schema' (expected {CORPUS_SCHEMA})")
    if doc["schema"] != CORPUS_SCHEMA or isinstance(doc["schema"], bool):
        raise CorpusError(f"{p}: unsupported corpus schema {repr(doc['schema'])[:40]} (this tritondiff reads "
                          f"{CORPUS_SCHEMA})")
    missing = [k for k in ("case", "expected") if k not in doc]
    if missing:
        raise CorpusError(f"{p}: missing key(s) {', '.join(repr(k) for k in missing)}")
    if not isinstance(doc["case"], dict):
        raise CorpusError(f"{p}: 'case' must be a JSON object (KernelCase.to_json())")
    case = case_from_document(doc["case"], p, trust_captured)
    expected = _validate_expected(p, doc["expected"])
    note = doc.get("note", "")
    if not isinstance(note, str):
        raise CorpusError(f"{p}: 'note' must be a string")
    extra = {k: v for k, v in doc.items() if k not in ("schema", "case", "expected", "note")}
    return CorpusEntry(p, case, expected, note, extra)


def case_from_document(d: dict[str, Any], where: str | Path, trust_captured: bool = False) -> Any:
    """A KernelCase from untrusted case JSON: validated, its source rendered from its spec."""
    from generators.case import KernelCase
    from generators.render import render
    from generators.validate import CaseInvalid, validate_case

    try:
        validate_case(d, trust_captured)
    except CaseInvalid as e:
        raise CorpusError(f"{where}: {e}") from None
    except RecursionError:
        raise CorpusError(f"{where}: case nested too deeply") from None
    captured = d.get("kind") == "captured"
    try:
        source = d["source"] if captured else render(d["spec"])
        case = KernelCase.from_json({**d, "source": source})
    except Exception as e:  # validated input that still does not build: say so, never a traceback
        raise CorpusError(f"{where}: invalid case: {type(e).__name__}: {e}") from None
    if not captured and d["source"] != source:
        raise CorpusError(f"{where}: stored source differs from the source rendered from its spec; "
                          "tritondiff never runs a stored source (regenerate the file from its spec)")
    stored_id = d.get("case_id")
    if stored_id is not None and stored_id != case.case_id:
        raise CorpusError(f"{where}: stored case_id {str(stored_id)[:20]!r} does not match its content "
                          f"({case.case_id}): the file was edited")
    return case


def iter_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files and directories (recursively, `*.json`, sorted); errors for missing paths."""
    files: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.json") if q.is_file() and not q.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or directory")
    return files, errors


def load_corpus(paths: Iterable[str | Path],
                trust_captured: bool = False) -> tuple[list[CorpusEntry], list[str]]:
    """Load every corpus file under `paths`; (entries, error messages), never raising per file."""
    files, errors = iter_paths(paths)
    entries: list[CorpusEntry] = []
    for f in files:
        try:
            entries.append(load_file(f, trust_captured))
        except CorpusError as e:
            errors.append(str(e))
    return entries, errors
