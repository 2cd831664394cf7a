"""Rewrite adapter linalg into something upstream MLIR 19 can parse and lower.

Why text rewrites: the adapter's output mixes upstream dialects with Ascend-only constructs
(annotation.mark hints, hfusion ops, declarations of bishengir library helpers, gpu.barrier).
Each rewrite here is semantics-preserving for programs run one at a time on CPU; anything we do not
recognise is raised as `Unsupported` (our pipeline's limit, not a backend bug).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backends.linalg_exec import helpers
from backends.runner_api import Unsupported

UPSTREAM_DIALECTS = {
    "arith", "math", "memref", "tensor", "linalg", "scf", "func", "bufferization", "affine", "cf",
    "index", "llvm", "vector", "complex", "builtin", "ub",
}

_DECL_RE = re.compile(r"^\s*func\.func private @(\w+)\((.*?)\)(?:\s*->\s*(\(.*?\)|[^\s{]+))?"
                      r"(?:\s+attributes\s*\{.*\})?(?:\s*loc\(.*\))?\s*$")
_CONST_RE = re.compile(r"^\s*(%[\w.$-]+)\s*=\s*arith\.constant\s+(true|false|-?\d+)"
                       r"(?:\s*:\s*(i\d+|index))?\s*(?:loc\(.*\))?$")
_OP_RE = re.compile(r"^\s*(?:%[\w#:.$-]+(?:\s*,\s*%[\w#:.$-]+)*\s*=\s*)?\"?([a-z_]+)\.([a-z_.]+)")
_BINARY_RE = re.compile(
    r"^(\s*)(%[\w.$-]+) = hfusion\.elemwise_binary \{fun = #hfusion\.binary_fn<(\w+)>\}\s*"
    r"ins\((%[\w.$-]+), (%[\w.$-]+) : ([^,]+), ([^)]+)\) outs\((%[\w.$-]+) : ([^)]+)\) -> (\S+)")
_HIST_RE = re.compile(r"^(\s*)(%[\w.$-]+) = hfusion\.histogram (%[\w.$-]+), (\d+)\s*:\s*(\S+)\s*->\s*(\S+)")
_TT_HIST_RE = re.compile(r"^(\s*)(%[\w.$-]+) = tt\.histogram (%[\w.$-]+)\s*:\s*(\S+)\s*->\s*(\S+)")


@dataclass
class Legalized:
    text: str
    kernel: str
    rewrites: list[str] = field(default_factory=list)


def split_types(s: str) -> list[str]:
    """Split a comma list of MLIR types, respecting <...>, (...) and [...] nesting."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _constants(lines: list[str]) -> dict[str, int]:
    vals: dict[str, int] = {}
    for ln in lines:
        m = _CONST_RE.match(ln)
        if m:
            v = m.group(2)
            vals[m.group(1)] = 1 if v == "true" else 0 if v == "false" else int(v)
    return vals


def _call_sites(text: str, name: str) -> list[re.Match]:
    return list(re.finditer(rf"(?:func\.)?call @{name}\(([^)]*)\)", text))


def _helper_body(kind: str, new: str, arg_types: list[str], result_types: list[str],
                 consts: list[int | None]) -> str:
    def need(i: int) -> int:
        if i >= len(consts) or consts[i] is None:
            raise Unsupported(f"helper {kind}: argument {i} is not a constant at its call site")
        return int(consts[i])  # type: ignore[arg-type]

    if kind in ("cumsum", "cumprod"):
        return helpers.scan(new, arg_types, need(1), bool(need(2)), "add" if kind == "cumsum" else "mul")
    if kind == "sort":
        return helpers.sort(new, arg_types, need(1), bool(need(2)) if len(arg_types) > 2 else False)
    if kind == "flip":
        return helpers.flip(new, arg_types, need(1))
    if kind == "gather":
        return helpers.gather(new, arg_types, result_types[0], need(2))
    if kind == "print":
        if result_types:
            raise Unsupported("triton_print helper with results")
        return helpers.noop(new, arg_types)
    raise Unsupported(f"no body for library helper kind {kind!r}")


def _helper_kind(name: str) -> str:
    m = re.match(r"triton_(cumsum|cumprod|sort|flip|gather|print)(?:_\d+)?$", name)
    if name.startswith("__hmf_"):
        raise Unsupported(f"extern device-library function @{name} (Ascend libdevice) has no CPU body")
    if not m:
        raise Unsupported(f"unknown library helper declaration @{name}")
    return m.group(1)


def _define_helpers(text: str, notes: list[str]) -> tuple[str, list[str]]:
    """Replace private declarations with bodies specialised per distinct constant call arguments."""
    lines = text.split("\n")
    consts = _constants(lines)
    bodies: list[str] = []
    keep: list[str] = []
    decls: list[tuple[str, list[str], list[str]]] = []
    for ln in lines:
        m = _DECL_RE.match(ln)
        if m:
            res = (m.group(3) or "").strip()
            res_types = split_types(res[1:-1]) if res.startswith("(") else ([res] if res else [])
            decls.append((m.group(1), split_types(m.group(2)), res_types))
        else:
            keep.append(ln)
    text = "\n".join(keep)
    for name, arg_types, res_types in decls:
        kind = _helper_kind(name)
        variants: dict[tuple, str] = {}

        def rename(m: re.Match, name: str = name, kind: str = kind, arg_types: list[str] = arg_types,
                   res_types: list[str] = res_types, variants: dict = variants) -> str:
            args = [a.strip() for a in m.group(1).split(",")] if m.group(1).strip() else []
            cvals = tuple(consts.get(a) for a in args)
            if cvals not in variants:
                new = f"{name}__td{len(variants)}"
                variants[cvals] = new
                bodies.append(_helper_body(kind, new, arg_types, res_types, list(cvals)))
            return m.group(0).replace(f"@{name}(", f"@{variants[cvals]}(")

        text = re.sub(rf"(?:func\.)?call @{name}\(([^)]*)\)", rename, text)
        notes.append(f"defined @{name} ({kind}) for {len(variants)} call site variant(s)")
    return text, bodies


def _rewrite_ops(lines: list[str], notes: list[str], bodies: list[str], float_mod: str) -> list[str]:
    out: list[str] = []
    nhist = 0
    for ln in lines:
        s = ln.strip()
        if s.startswith("annotation.mark") or s.startswith("gpu.barrier"):
            notes.append(f"dropped {s.split()[0]}")
            continue
        if "= annotation." in s:
            raise Unsupported(f"annotation op with results: {s[:200]}")
        m = _BINARY_RE.match(ln)
        if m:
            ind, res, fn, a, b_, ta, _tb, _o, _to, tr = m.groups()
            elem = helpers.parse_tensor(tr).elem if tr.startswith("tensor") else tr
            if fn == "mod" and helpers._is_float(elem):
                if float_mod == "fmod":
                    out.append(f"{ind}{res} = arith.remf {a}, {b_} : {tr}")
                else:
                    q, f, p = (f"%tdmod{len(out)}_{i}" for i in range(3))
                    out += [f"{ind}{q} = arith.divf {a}, {b_} : {tr}", f"{ind}{f} = math.floor {q} : {tr}",
                            f"{ind}{p} = arith.mulf {f}, {b_} : {tr}", f"{ind}{res} = arith.subf {a}, {p} : {tr}"]
                notes.append(f"hfusion.elemwise_binary<mod> on floats lowered as {float_mod}")
                continue
            raise Unsupported(f"hfusion.elemwise_binary<{fn}> on {tr} not handled by our pipeline")
        m = _HIST_RE.match(ln)
        mt = _TT_HIST_RE.match(ln)
        if m or mt:
            if m:
                ind, res, src, bins, tin, tout = m.groups()
            else:
                ind, res, src, tin, tout = mt.groups()  # type: ignore[union-attr]
                bins = str(helpers.parse_tensor(tout).shape[0])
                notes.append("adapter left tt.histogram unconverted; lowered as hfusion.histogram")
            if helpers.parse_tensor(tout).shape != (int(bins),):
                raise Unsupported(f"hfusion.histogram with unexpected result type {tout}")
            name = f"td_histogram_{nhist}"
            nhist += 1
            bodies.append(helpers.histogram(name, tin, tout))
            out.append(f"{ind}{res} = func.call @{name}({src}) : ({tin}) -> {tout}")
            notes.append("hfusion.histogram -> counting loop")
            continue
        out.append(ln)
    return out


def _check_dialects(text: str) -> None:
    for ln in text.split("\n"):
        if ln.lstrip().startswith(("#", "//", "^")):
            continue
        m = _OP_RE.match(ln)
        if m and m.group(1) == "tt":
            raise Unsupported(f"the adapter left Triton op tt.{m.group(2)} unconverted (its output is "
                              f"not pure linalg; only the NPU compiler could take it): {ln.strip()[:200]}")
        if m and m.group(1) not in UPSTREAM_DIALECTS:
            raise Unsupported(f"construct {m.group(1)}.{m.group(2)} is not handled by our MLIR 19 "
                              f"pipeline: {ln.strip()[:200]}")


def _kernel_name(text: str) -> str:
    names = re.findall(r"^\s*func\.func @(\w+)\(", text, flags=re.M)
    if len(names) != 1:
        raise Unsupported(f"expected one public kernel function in the adapter output, found {names}")
    return names[0]


def signature_span(text: str, kernel: str) -> tuple[int, int]:
    """Offsets of the argument list of `func.func @kernel(` (start after '(', end at its ')')."""
    m = re.search(rf"func\.func @{kernel}\(", text)
    if m is None:
        raise Unsupported(f"cannot find the signature of @{kernel}")
    depth, j = 1, m.end()
    while depth and j < len(text):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        j += 1
    return m.end(), j - 1


def _add_c_interface(text: str, kernel: str) -> str:
    _, end = signature_span(text, kernel)
    m = re.compile(r"\)\s*attributes\s*\{").match(text, end)
    if m:
        return text[:m.end()] + "llvm.emit_c_interface, " + text[m.end():]
    return text[:end + 1] + " attributes {llvm.emit_c_interface}" + text[end + 1:]


def _insert_before_module_end(text: str, bodies: list[str]) -> str:
    if not bodies:
        return text
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"^\}(\s*loc\(.*\))?\s*$", lines[i]):
            return "\n".join(lines[:i] + bodies + lines[i:])
    raise Unsupported("cannot find the end of the module")


def legalize(linalg: str, float_mod: str = "floor") -> Legalized:
    """Adapter output -> MLIR 19-ready module with a C interface on the kernel.

    float_mod: how to read `hfusion.elemwise_binary<mod>` on floats, whose NPU semantics we cannot
    check here: "floor" (Triton's and torch's `%`: a - floor(a/b)*b, what rc2/rc4 emit inline) or
    "fmod" (C remainder, sign of the dividend).
    """
    if float_mod not in ("floor", "fmod"):
        raise ValueError(f"float_mod must be 'floor' or 'fmod', not {float_mod!r}")
    notes: list[str] = []
    text, bodies = _define_helpers(linalg, notes)
    text = "\n".join(_rewrite_ops(text.split("\n"), notes, bodies, float_mod))
    _check_dialects(text)
    kernel = _kernel_name(text)
    text = _add_c_interface(text, kernel)
    text = _insert_before_module_end(text, bodies)
    return Legalized(text, kernel, notes)
