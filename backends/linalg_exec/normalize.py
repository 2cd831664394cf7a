"""Normalise MLIR text so that two adapters' outputs that lower to the same code hash the same.

Why: the three triton-ascend releases often emit the same linalg for a kernel, differing only in
SSA value names, locations and Ascend hint attributes that upstream MLIR never reads. Lowering and
running it once for all of them is the cross-release reuse of `backends.linalg_exec`.

What is removed: `loc(...)` and `#locN = ...` lines; value names (renamed `%vN` / `^bN` in order of
first appearance, so the renaming is a bijection and two texts match only if they are equal up to
alpha-renaming); the attributes in IGNORED_ATTRS, which are hints for Huawei's NPU compiler that no
upstream pass or translation reads (checked by `bench/ascend_stages.py --check-reuse`, which
lowers both and compares the LLVM IR). Anything else, attributes included, must match exactly.
"""

from __future__ import annotations

import hashlib
import re

# name -> regex for its value. Only discardable hints of triton-ascend's NPU pipeline.
IGNORED_ATTRS = {
    "tt.divisibility": r"\d+ : i\d+",
    "tt.tensor_kind": r"\d+ : i\d+",
    "parallel_mode": r'"[a-z_]*"',
    "mix_mode": r'"[a-z_]*"',
    "global_kernel": r'"[a-z_]*"',
    "hivm.unlikely_condition": r"",
    "reduce_mode": r'"[a-z_]*"',  # on linalg.reduce: its body, not this, is what we lower
    "tie_break_left": r'"(?:true|false)"',
}

_ATTR_RE = re.compile(
    r"(?:,\s*)?\b(?:" + "|".join(
        re.escape(k) + (r"\s*=\s*" + v if v else r"(?![\w.=\s]*=)") for k, v in IGNORED_ATTRS.items())
    + r")(?=\s*[,}])")
_LOC_DEF_RE = re.compile(r"^#loc\d*\s*=.*$\n?", re.M)
_NAME_RE = re.compile(r"([%^])([A-Za-z_$.\-][\w$.\-]*|\d+)(#\d+|:\d+)?")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')


def _strip_locs(text: str) -> str:
    text = _LOC_DEF_RE.sub("", text)
    out, i = [], 0
    while True:
        j = text.find("loc(", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        if j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_."):
            out.append(text[i:j + 4])
            i = j + 4
            continue
        out.append(text[i:j].rstrip(" "))
        depth, k = 0, j + 3
        while k < len(text):
            if text[k] == "(":
                depth += 1
            elif text[k] == ")":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1


def _rename(text: str) -> str:
    names: dict[str, str] = {}
    pieces, last = [], 0
    for s in _STRING_RE.finditer(text):  # never rename inside string literals
        pieces.append((text[last:s.start()], True))
        pieces.append((s.group(0), False))
        last = s.end()
    pieces.append((text[last:], True))

    def sub(m: re.Match) -> str:
        key = m.group(1) + m.group(2)
        if key not in names:
            names[key] = f"{m.group(1)}{'v' if m.group(1) == '%' else 'b'}{len(names)}"
        return names[key] + (m.group(3) or "")

    def code(p: str) -> str:
        p = re.sub(r"[ \t]+", " ", p)  # layout is not meaning (outside string literals)
        p = re.sub(r" (?=[,)\]>])|(?<=[(\[<]) ", "", p)
        return _NAME_RE.sub(sub, p)

    return "".join(code(p) if is_code else p for p, is_code in pieces)


def normalize(text: str) -> str:
    """Text equal for two inputs iff they differ only in names, locations and ignored hints."""
    text = _strip_locs(text)
    text = _ATTR_RE.sub("", text)
    text = re.sub(r"\{\s*,\s*", "{", text)
    text = re.sub(r"\s*\{\s*\}", "", text)  # attribute dicts left empty
    text = _rename(text)
    return "\n".join(ln.rstrip() for ln in text.splitlines() if ln.strip())


def key(text: str, *parts: object) -> str:
    """Content address of normalised text plus whatever else decides the result (options...)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode() + b"\0")
    h.update(normalize(text).encode())
    return h.hexdigest()[:32]
