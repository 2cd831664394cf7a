"""Stable fingerprints of failures, so one bug is one finding however often it fires.

A signature is `family|kind|stage|head|frames`: the backend family (not its version, so the same
bug in two releases groups together and the finding lists both), the outcome kind and stage, the
first meaningful error line and the top native frames of a stack dump, with paths, temp names,
addresses, SSA numbers, source locations, shapes and constants normalised away.
"""

from __future__ import annotations

import hashlib
import re

_NORMALISE = [
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"(/[\w.\-+]+)+/([\w.\-+]+)"), r"\2"),  # paths -> basename
    (re.compile(r"\btmp[\w]{4,}\b"), "tmp?"),
    (re.compile(r"%[\w.#]+"), "%?"),
    (re.compile(r"#loc\d*"), "#loc"),
    (re.compile(r":\d+:\d+"), ":?:?"),
    (re.compile(r"\bline \d+"), "line ?"),
    (re.compile(r"tensor<[\dx?]+x"), "tensor<?x"),
    (re.compile(r"\b\d+x\d+(x\d+)*\b"), "?x?"),
    (re.compile(r"\b\d+\b"), "N"),
    (re.compile(r"k_[0-9a-f]{16}"), "k_?"),
    (re.compile(r"helper_\w*"), "helper_N"),  # generated jit-helper names, with any mangled arg-type suffix
    (re.compile(r"\b(\d+|N) bytes\b"), "N bytes"),
    (re.compile(r"buffer '\w+'"), "buffer ?"),  # one guard-page bug, whichever buffer it hits
    (re.compile(r"\b([ifu])(8|16|32|64)\b"), r"\1N"),  # i32 vs i64 of the same crash
    # a frontend diagnostic names the dtypes and shapes of the case at hand: one bug, many cases
    # (a quoted dtype list, "Expected dtype ['int32', 'uint32']", names the op's own rule: kept)
    (re.compile(r"(?<!')\b(?:u?int(?:8|16|32|64)|fp(?:8e4nv|8e5|16|32|64)|bf16|b?float(?:16|32|64))\b(?!')"), "T"),
    (re.compile(r"\[constexpr\[N\](?:, constexpr\[N\])*\]"), "[shape]"),
    (re.compile(r"<\[N(?:, N)*\],"), "<[shape],"),
    (re.compile(r"\s+"), " "),
]
_FRAME = re.compile(r"#\d+\s+0x[0-9a-fA-F]+\s+(?:in\s+)?(.+?)(?:\s+\(|$)")
_SKIP_FRAMES = ("PrintStackTrace", "RunSignalHandlers", "SignalHandler", "linux-vdso", "__restore_rt",
                "libc.so", "raise", "abort", "__assert_fail", "killpg", "gsignal")
_HEAD_HINTS = ("error:", "Error", "Assertion", "assert", "cannot", "failed", "Unsupported", "unsupported",
               "Exception", "Segmentation", "Aborted", "illegal", "invalid", "unknown", "not supported")


_MLIR_TYPE = re.compile(r"\b(memref|tensor|vector)<")


def _mlir_types(text: str) -> str:
    """`memref<4x16xi64, strided<[4, 1], offset: ?>>` -> `memref<?>`: the shape, element type and
    layout are the case's, the failing conversion is the bug (angle brackets nest, so scan)."""
    out, i = [], 0
    for m in _MLIR_TYPE.finditer(text):
        if m.start() < i:
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"<": 1, ">": -1}.get(text[j], 0)
            j += 1
        out.append(text[i:m.start()] + f"{m.group(1)}<?>")
        i = j
    return "".join(out) + text[i:]


def normalise(text: str) -> str:
    text = _mlir_types(text)
    for pat, rep in _NORMALISE:
        text = pat.sub(rep, text)
    return text.strip()


def frames(text: str, top: int = 3) -> list[str]:
    """Function names of the top native frames in an LLVM/gdb style stack dump."""
    out = []
    for line in text.splitlines():
        m = _FRAME.search(line)
        if not m:
            continue
        fn = m.group(1).strip()
        if any(s in fn for s in _SKIP_FRAMES) or fn.startswith("0x"):
            continue
        fn = re.sub(r"\(.*", "", fn)  # drop argument lists
        fn = re.sub(r"<.*>", "<>", fn)
        out.append(fn)
        if len(out) >= top:
            break
    return out


def head_line(text: str) -> str:
    """The first line that looks like the error itself, not context."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("remark:", "note:", "Traceback", "File ", "PLEASE submit", "Stack dump",
                          "///", "0.", "#")):
            continue
        if any(h in ln for h in _HEAD_HINTS):
            return ln
    return lines[0] if lines else ""


# A wrapper's generic line hides the tool's own diagnostic: "PTXAS error: Internal Triton PTX codegen
# error" covers every ptxas rejection, "triton-adapter-opt exited 1" every adapter rejection. The
# detail (ptxas' `x.ptx, line 49; error : Modifier ...`, MLIR's `k.py:6:0: error: 'func.return' op
# ...`) joins the head, so two bugs behind one wrapper line are two findings.
_WRAPPER_HEAD = re.compile(r"(exited \d+|Internal Triton PTX codegen error:?)\s*$")  # 3.0/3.1 end in ':'
_TOOL_DETAIL = (re.compile(r";\s*error\s*:\s*(.+)$", re.M), re.compile(r"\berror:\s*(.+)$", re.M))


def _detail(text: str, head: str) -> str:
    if not _WRAPPER_HEAD.search(head):
        return ""
    for pat in _TOOL_DETAIL:
        m = pat.search(text)
        if m and m.group(1).strip() and m.group(1).strip() not in head:
            return normalise(m.group(1))[:120]
    return ""


def make_signature(family: str, kind: str, stage: str, text: str = "", extra: str = "") -> str:
    raw = head_line(text) if text else ""
    head = normalise(raw)[:160]
    detail = _detail(text, raw) if text else ""
    if detail:
        head = f"{head} / {detail}"
    fr = ">".join(frames(text)) if text else ""
    parts = [family, kind, stage, head, fr]
    if extra:
        parts.append(extra)
    return "|".join(parts)


def short_id(signature: str) -> str:
    """A 10-hex-digit handle for a signature, for CLI use and file names."""
    return hashlib.sha256(signature.encode()).hexdigest()[:10]
