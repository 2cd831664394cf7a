"""Strict validation of case files: a corpus file is untrusted data, never code.

Why: corpora are shared and replayed in CI, and a case's spec is rendered into Python that a
worker imports. Every name that reaches the rendered source must be a plain identifier, every
operator, function, dtype and axis must come from the vocabulary the renderer knows, and every
size must be small enough that the reference evaluator and the backends finish. Validation runs on
the raw JSON, before any KernelCase is built, and raises `CaseInvalid` with one line that says
what is wrong and where (a JSON path such as `spec.body[3].e.op`).

The allowed sets come from one function, `allowed_vocabulary()`, so the construct registry can
own them later by re-pointing that function alone.
"""

from __future__ import annotations

import base64
import binascii
import keyword
import math
import re
from functools import lru_cache
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Names the rendered module itself uses, or that Python gives a meaning to: a kernel variable or
# parameter spelled like one would change what the rendered source does.
RESERVED_NAMES = frozenset({*keyword.kwlist, *getattr(keyword, "softkwlist", []), "tl", "triton", "range",
                            "True", "False", "None", "print", "int", "float"})

MAX_DEPTH = 64  # JSON nesting of a spec (generated specs: <= 20)
MAX_NODES = 5000  # expression + statement nodes (generated: < 300)
MAX_DIM = 4096
MAX_RANK = 4
MAX_TENSOR_ELEMS = 1 << 16  # elements of one block tensor (generated: <= 1024)
MAX_GRID_AXIS = 65535
MAX_PROGRAMS = 4096  # grid x * y * z (generated: <= 18)
MAX_BUFFER_ELEMS = 1 << 22
MAX_TOTAL_BUFFER_BYTES = 64 << 20
MAX_PARAMS = 64
MAX_LOOP_CONST = 1 << 16
NUM_WARPS = (1, 2, 4, 8, 16, 32)
UN_OPS = ("-", "~")
BINARY_FNS = ("maximum", "minimum")
DOT_PRECISIONS = (None, "ieee", "tf32", "tf32x3")
CASE_KINDS = ("generated", "captured")
def _itemsizes() -> dict[str, int]:
    import numpy as np

    from backends.runner_api import STORAGE

    return {dt: int(np.dtype(t).itemsize) for dt, t in STORAGE.items()}


ITEMSIZE = _itemsizes()
INT_RANGE = {"int1": (0, 1), "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
             "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
             "uint8": (0, (1 << 8) - 1), "uint16": (0, (1 << 16) - 1), "uint32": (0, (1 << 32) - 1),
             "uint64": (0, (1 << 64) - 1)}

class CaseInvalid(ValueError):
    """A case file that must not be run; the message names the JSON path and what is wrong."""


@lru_cache(maxsize=1)
def allowed_vocabulary() -> dict[str, tuple[Any, ...]]:
    """Every node kind, operator, function, dtype and axis a case may use: the construct registry's.

    Each construct declares its node's fields and the values each may take (generators/
    constructs/), so a kind or operator no construct knows is refused rather than rendered."""
    from generators import spec as S
    from generators.constructs import EXPRS, STMTS

    def values(node: str, field: str) -> tuple[Any, ...]:
        return tuple(EXPRS[node].fields[field].values) if node in EXPRS else ()

    dtypes = tuple(S.VALUE_DTYPES)
    return {
        "expr_kinds": tuple(EXPRS),
        "stmt_kinds": tuple(STMTS),
        "bin_ops": values("bin", "op"),
        "un_ops": values("un", "op"),
        "call_fns": values("call", "fn"),
        "reduce_fns": values("reduce", "fn"),
        "dtypes": dtypes,  # element dtypes of values, casts, constants, buffers
        "const_dtypes": (*dtypes, "int1"),
        "pid_axes": (0, 1, 2),
        "param_kinds": ("ptr", "scalar", "constexpr"),
        "num_warps": NUM_WARPS,
        "buffer_roles": ("in", "out"),
    }


# ---- small typed checks -----------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and (not isinstance(v, float) or math.isfinite(v))


def _fail(path: str, what: str) -> CaseInvalid:
    return CaseInvalid(f"{path}: {what}")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise _fail(path, f"a name must be a string, got {type(v).__name__}")
    if not NAME_RE.match(v):
        raise _fail(path, f"name {_show(v)} is not an identifier (letters, digits, _; at most 64)")
    if v in RESERVED_NAMES or v.startswith("__"):
        raise _fail(path, f"name {v!r} is reserved")
    return v


def _one_of(v: Any, allowed: tuple[Any, ...], path: str, what: str) -> Any:
    ok = any(v == a and type(v) is type(a) for a in allowed)
    if not ok:
        shown = ", ".join(repr(a) for a in allowed)
        raise _fail(path, f"{what} {_show(v)} is not one of {shown}")
    return v


def _int_in(v: Any, lo: int, hi: int, path: str, what: str) -> int:
    if not _is_int(v):
        raise _fail(path, f"{what} must be a whole number, got {type(v).__name__} {_show(v)}")
    if not lo <= v <= hi:
        raise _fail(path, f"{what} {v} is outside {lo}..{hi}")
    return v


def _shape(v: Any, path: str, lo: int = 1, hi: int = MAX_DIM, max_rank: int = MAX_RANK,
           min_rank: int | None = None) -> list[int]:
    # lo 0: a list of axis indices (boundary_check, order) may be empty; tl.full([]) is 0-D
    least = min_rank if min_rank is not None else (1 if lo >= 1 else 0)
    if not isinstance(v, list) or not least <= len(v) <= max_rank:
        raise _fail(path, f"a shape must be a list of {least}..{max_rank} sizes")
    n = 1
    for i, d in enumerate(v):
        _int_in(d, lo, hi, f"{path}[{i}]", "size")
        n *= max(d, 1)
    if n > MAX_TENSOR_ELEMS:
        raise _fail(path, f"tensor of {n} elements exceeds {MAX_TENSOR_ELEMS}")
    return v


def _value(v: Any, dt: str, path: str) -> None:
    """A literal of dtype `dt`: ints in range for integer dtypes, finite numbers for floats."""
    if dt in INT_RANGE:
        if dt == "int1" and isinstance(v, bool):
            return
        lo, hi = INT_RANGE[dt]
        _int_in(v, lo, hi, path, f"{dt} value")
    elif not _is_num(v):
        raise _fail(path, f"{dt} value must be a finite number, got {type(v).__name__} {_show(v)}")


# ---- the spec ---------------------------------------------------------------------------------

# How a field is named in messages: (node tag, field) first, then the field alone.
LABELS = {("un", "op"): "unary operator", ("reduce", "fn"): "reduce function", ("pid", "axis"): "program axis",
          ("dot", "prec"): "input precision", ("arange", "n"): "arange size", ("for", "kind"): "loop kind",
          "op": "operator", "fn": "function", "dt": "dtype", "axis": "axis"}


def _label(tag: str, field: str) -> str:
    return LABELS.get((tag, field)) or LABELS.get(field) or field


class _SpecChecker:
    """Walks a raw spec body against the registry's field declarations (iteratively bounded)."""

    def __init__(self, voc: dict[str, tuple[Any, ...]], params: dict[str, dict[str, Any]]) -> None:
        self.voc = voc
        self.params = params
        self.nodes = 0

    def _construct(self, node: Any, key: str, path: str, depth: int) -> Any:
        from generators.constructs import EXPRS, STMTS

        if depth > MAX_DEPTH:
            raise _fail(path, f"nested deeper than {MAX_DEPTH}")
        if not isinstance(node, dict):
            raise _fail(path, f"expected a node object, got {type(node).__name__}")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(path, f"more than {MAX_NODES} nodes")
        table = EXPRS if key == "e" else STMTS
        tag = node.get(key)
        if not isinstance(tag, str) or tag not in table:
            what = "expression" if key == "e" else "statement"
            raise _fail(f"{path}.{key}", f"unknown {what} kind {_show(tag)}")
        c = table[tag]
        for f, spec in c.fields.items():
            if not spec.optional and f not in node:
                raise _fail(path, f"{tag} node lacks field {f!r}")
        extra = set(node) - {key, *c.fields}
        if extra:
            raise _fail(path, f"{tag} node has unknown field(s) {', '.join(sorted(map(repr, extra)))}")
        return c

    def _field(self, c: Any, node: dict[str, Any], f: str, spec: Any, path: str, depth: int) -> None:
        v = node.get(f)
        p = f"{path}.{f}"
        if v is None and spec.optional:
            return
        k = spec.kind
        what = _label(str(node.get("e") or node.get("s")), f)
        if k == "expr":
            self.expr(v, p, depth)
        elif k == "exprs":
            if not isinstance(v, list) or not (spec.lo or 0) <= len(v) <= (spec.hi or MAX_NODES):
                raise _fail(p, f"must be a list of {spec.lo}..{spec.hi} expressions")
            for i, x in enumerate(v):
                self.expr(x, f"{p}[{i}]", depth)
        elif k == "block":
            self.block(v, p, depth)
        elif k == "ident":
            check_name(v, p)
            if c.kind == "stmt" and v in self.params:
                raise _fail(p, f"local {v!r} shadows the parameter of that name")
        elif k == "idents":
            if not isinstance(v, list) or not (spec.lo or 0) <= len(v) <= (spec.hi or MAX_PARAMS):
                raise _fail(p, f"must be a list of {spec.lo}..{spec.hi} names")
            for i, x in enumerate(v):
                check_name(x, f"{p}[{i}]")
            if len(set(v)) != len(v):
                raise _fail(p, "names repeat")
        elif k == "int":
            _int_in(v, spec.lo, spec.hi, p, what)
        elif k == "num" and "dt" in c.fields:
            return  # a literal: checked against its dtype once the dtype is known (expr())
        elif k == "num":
            if not _is_num(v):
                raise _fail(p, f"must be a finite number, got {type(v).__name__} {_show(v)}")
        elif k == "bool":
            if not isinstance(v, bool):
                raise _fail(p, "must be true or false")
        elif k in ("dtype", "enum"):
            _one_of(v, spec.values, p, what)
        elif k == "shape":
            _shape(v, p, spec.lo if spec.lo is not None else 1, spec.hi or MAX_DIM,
                   min(spec.values[0] if spec.values else MAX_RANK, MAX_RANK),
                   spec.values[1] if len(spec.values) > 1 else None)
        else:  # a field kind this validator does not know is never trusted
            raise _fail(p, f"field kind {k!r} cannot be validated")

    def expr(self, e: Any, path: str, depth: int) -> None:
        c = self._construct(e, "e", path, depth)
        for f, spec in c.fields.items():
            self._field(c, e, f, spec, path, depth + 1)
        if "v" in c.fields and "dt" in c.fields:  # literals: in range of their dtype
            _value(e["v"], e["dt"], f"{path}.v")

    def block(self, body: Any, path: str, depth: int) -> None:
        if not isinstance(body, list):
            raise _fail(path, f"a body must be a list of statements, got {type(body).__name__}")
        for i, s in enumerate(body):
            p = f"{path}[{i}]"
            c = self._construct(s, "s", p, depth)
            for f, spec in c.fields.items():
                self._field(c, s, f, spec, p, depth + 1)
            lo, hi = s.get("lo"), s.get("hi")
            if isinstance(lo, dict) and isinstance(hi, dict) and lo.get("e") == "const" == hi.get("e") \
                    and _is_int(lo.get("v")) and _is_int(hi.get("v")) and hi["v"] - lo["v"] > MAX_LOOP_CONST:
                raise _fail(p, f"loop of {hi['v'] - lo['v']} trips exceeds {MAX_LOOP_CONST}")


def _params(raw: Any, voc: dict[str, tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_PARAMS:
        raise _fail("spec.params", f"must be a list of at most {MAX_PARAMS} parameters")
    out: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(raw):
        path = f"spec.params[{i}]"
        if not isinstance(p, dict):
            raise _fail(path, "a parameter must be an object")
        extra = set(p) - {"name", "kind", "dtype", "value"}
        if extra:
            raise _fail(path, f"unknown field(s) {', '.join(sorted(map(repr, extra)))}")
        name = check_name(p.get("name"), f"{path}.name")
        if name in out:
            raise _fail(f"{path}.name", f"duplicate parameter {name!r}")
        kind = _one_of(p.get("kind"), voc["param_kinds"], f"{path}.kind", "parameter kind")
        if kind == "constexpr":
            if p.get("dtype", "") != "":
                raise _fail(f"{path}.dtype", "a constexpr parameter has dtype \"\"")
            v = p.get("value")
            if not _is_num(v) or (_is_int(v) and not INT_RANGE["int32"][0] <= v <= INT_RANGE["int32"][1]):
                raise _fail(f"{path}.value", f"constexpr value must be an int32 or a finite float, got {_show(v)}")
        else:
            dt = _one_of(p.get("dtype"), voc["dtypes"], f"{path}.dtype", "dtype")
            if kind == "scalar":
                if "value" not in p:
                    raise _fail(path, "a scalar parameter needs a value")
                _value(p["value"], dt, f"{path}.value")
            elif p.get("value") is not None:
                raise _fail(f"{path}.value", "a pointer parameter has no value")
        out[name] = p
    return out


def validate_spec(spec: Any) -> dict[str, Any]:
    """Check a spec's structure, names, vocabulary and sizes; then its types. Returns it."""
    from generators import spec as S

    voc = allowed_vocabulary()
    if not isinstance(spec, dict):
        raise _fail("spec", f"must be an object, got {type(spec).__name__}")
    if not _is_int(spec.get("schema")) or spec["schema"] != S.SPEC_SCHEMA:
        raise _fail("spec.schema", f"unsupported spec schema {_show(spec.get('schema'))} (expected {S.SPEC_SCHEMA})")
    extra = set(spec) - set(S.SPEC_FIELDS)
    if extra:
        raise _fail("spec", f"unknown field(s) {', '.join(sorted(map(repr, extra)))}")
    for f in ("name", "params", "grid", "body"):
        if f not in spec:
            raise _fail("spec", f"lacks field {f!r}")
    name = check_name(spec["name"], "spec.name")
    params = _params(spec["params"], voc)
    if name in params:
        raise _fail("spec.name", f"kernel name {name!r} is also a parameter name")
    grid(spec["grid"], "spec.grid")
    _one_of(spec.get("num_warps", 4), voc["num_warps"], "spec.num_warps", "num_warps")
    tags = spec.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and NAME_RE.match(t) for t in tags):
        raise _fail("spec.tags", "must be a list of identifier strings")
    checker = _SpecChecker(voc, params)
    checker.block(spec["body"], "spec.body", 1)
    try:
        S.check(spec)
    except S.SpecError as e:
        raise _fail("spec", f"ill-typed: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as e:
        raise _fail("spec", f"ill-typed: {type(e).__name__}: {e}") from None
    return spec


def grid(g: Any, path: str) -> tuple[int, int, int]:
    if not isinstance(g, list) or len(g) != 3:
        raise _fail(path, f"a grid is a list of 3 program counts, got {_show(g)}")
    for i, n in enumerate(g):
        _int_in(n, 1, MAX_GRID_AXIS, f"{path}[{i}]", "program count")
    total = g[0] * g[1] * g[2]
    if total > MAX_PROGRAMS:
        raise _fail(path, f"{total} programs exceed {MAX_PROGRAMS}")
    return (g[0], g[1], g[2])


# ---- the whole case ---------------------------------------------------------------------------

CASE_FIELDS = ("schema", "case_id", "spec", "source", "kernel_name", "args", "buffers", "grid", "num_warps",
               "features", "seed", "generator_version", "kind", "launch", "capture")


def validate_case(d: Any, trust_captured: bool = False) -> dict[str, Any]:
    """Validate a case's JSON (KernelCase.to_json() form) before anything is built from it.

    A generated case must have a spec that validates, and everything it launches must agree with
    that spec. A captured case (kind "captured": source that no spec produced) is refused unless
    `trust_captured`, since running it means importing its source as Python.
    """
    if not isinstance(d, dict):
        raise _fail("case", f"must be an object, got {type(d).__name__}")
    if not _is_int(d.get("schema")) or d["schema"] != 1:
        raise _fail("case.schema", f"unsupported case schema {_show(d.get('schema'))} (expected 1)")
    extra = set(d) - set(CASE_FIELDS)
    if extra:
        raise _fail("case", f"unknown field(s) {', '.join(sorted(map(repr, extra)))}")
    missing = [f for f in ("spec", "source", "kernel_name", "args", "buffers", "grid") if f not in d]
    if missing:
        raise _fail("case", f"lacks field(s) {', '.join(map(repr, missing))}")
    kind = _one_of(d.get("kind", "generated"), CASE_KINDS, "case.kind", "case kind")
    if not isinstance(d["source"], str):
        raise _fail("case.source", f"must be a string, got {type(d['source']).__name__}")
    for f, t in (("case_id", str), ("generator_version", str)):
        if f in d and not isinstance(d[f], t):
            raise _fail(f"case.{f}", f"must be a {t.__name__}")
    if d.get("seed") is not None and not _is_int(d["seed"]):
        raise _fail("case.seed", "must be a whole number or null")
    feats = d.get("features", [])
    if not isinstance(feats, list) or not all(isinstance(x, str) and NAME_RE.match(x) for x in feats):
        raise _fail("case.features", "must be a list of identifier strings")
    _launch_options(d.get("launch"))
    g = grid(d["grid"], "case.grid")
    nw = _one_of(d.get("num_warps", 4), NUM_WARPS, "case.num_warps", "num_warps")
    name = check_name(d["kernel_name"], "case.kernel_name")
    if kind == "captured":
        if not trust_captured:
            raise _fail("case.kind", "a captured kernel runs its stored source as Python; refused "
                                     "without --trust-captured")
        params = None
        if "capture" in d:  # absent: nothing recorded to judge values against (canaries only)
            _capture(d["capture"], d["buffers"])
    else:
        if "capture" in d:
            raise _fail("case.capture", "only a captured case carries what its capture recorded")
        spec = validate_spec(d["spec"])
        if name != spec["name"]:
            raise _fail("case.kernel_name", f"{name!r} differs from the spec's kernel name {spec['name']!r}")
        if list(g) != spec["grid"]:
            raise _fail("case.grid", f"{list(g)} differs from the spec's grid {spec['grid']}")
        if nw != spec.get("num_warps", 4):
            raise _fail("case.num_warps", "differs from the spec's num_warps")
        params = spec["params"]
    _launch(d["args"], d["buffers"], params, captured=kind == "captured")
    return d


CAPTURE_FIELDS = ("outputs", "origin", "shapes", "command", "error")


def _capture(c: Any, buffers: Any) -> None:
    """What `tritondiff capture` recorded: the interpreter's output bytes per written buffer."""
    if not isinstance(c, dict):
        raise _fail("case.capture", "must be an object with the capture's recorded outputs")
    extra = set(c) - set(CAPTURE_FIELDS)
    if extra:
        raise _fail("case.capture", f"unknown field(s) {', '.join(sorted(map(repr, extra)))}")
    outs = c.get("outputs")
    if not isinstance(outs, dict) or not isinstance(buffers, dict):
        raise _fail("case.capture.outputs", "must be an object {buffer: base64}")
    for name, blob in outs.items():
        b = buffers.get(name)
        if not isinstance(b, dict) or not isinstance(blob, str) or not isinstance(b.get("data"), str):
            raise _fail(f"case.capture.outputs[{_show(name)}]", "names no buffer of the case, or is not base64")
        try:
            n_out = len(base64.b64decode(blob, validate=True))
            n_in = len(base64.b64decode(b["data"], validate=True))
        except (binascii.Error, ValueError):
            raise _fail(f"case.capture.outputs[{_show(name)}]", "is not valid base64") from None
        if n_out != n_in:
            raise _fail(f"case.capture.outputs[{_show(name)}]", f"{n_out} bytes for a buffer of {n_in}")
    for f in ("origin", "command", "error"):
        if f in c and not isinstance(c[f], str):
            raise _fail(f"case.capture.{f}", "must be a string")


def _launch_options(raw: Any) -> None:
    """Launch/compile options (num_stages, maxnreg, ascend_options): known keys, plain values."""
    from generators.case import _launch

    if raw is None:
        return
    try:
        opts = _launch(raw)
    except ValueError as e:
        raise _fail("case.launch", str(e)) from None
    for k, v in opts.get("ascend_options", {}).items():
        check_name(k, f"case.launch.ascend_options.{k}")
        if not isinstance(v, (bool, int)):
            raise _fail(f"case.launch.ascend_options.{k}", "must be true/false or a whole number")
    for k in ("num_stages", "maxnreg"):
        if k in opts:
            _int_in(opts[k], 1, 256, f"case.launch.{k}", k)


def _launch(args: Any, buffers: Any, params: list[dict[str, Any]] | None, captured: bool = False) -> None:
    voc = allowed_vocabulary()
    if not isinstance(buffers, dict) or len(buffers) > MAX_PARAMS:
        raise _fail("case.buffers", f"must be an object of at most {MAX_PARAMS} buffers")
    total = 0
    for key, b in buffers.items():
        path = f"case.buffers[{_show(key)}]"
        check_name(key, path)
        if not isinstance(b, dict) or set(b) != {"name", "dtype", "role", "data"}:
            raise _fail(path, "a buffer is an object with exactly name, dtype, role, data")
        if b["name"] != key:
            raise _fail(f"{path}.name", f"{_show(b['name'])} differs from its key")
        dt = _one_of(b["dtype"], (*voc["dtypes"], "fp64", "int1"), f"{path}.dtype", "dtype")
        _one_of(b["role"], voc["buffer_roles"], f"{path}.role", "role")
        data = b["data"]
        if not isinstance(data, str):
            raise _fail(f"{path}.data", "must be a base64 string")
        if len(data) > (MAX_BUFFER_ELEMS * 8 * 4) // 3 + 4:
            raise _fail(f"{path}.data", f"buffer larger than {MAX_BUFFER_ELEMS} elements")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(f"{path}.data", "is not valid base64") from None
        if len(raw) % ITEMSIZE[dt]:
            raise _fail(f"{path}.data", f"{len(raw)} bytes is not a whole number of {dt} elements")
        n = len(raw) // ITEMSIZE[dt]
        if not 1 <= n <= MAX_BUFFER_ELEMS:
            raise _fail(f"{path}.data", f"{n} elements is outside 1..{MAX_BUFFER_ELEMS}")
        total += len(raw)
    if total > MAX_TOTAL_BUFFER_BYTES:
        raise _fail("case.buffers", f"{total} bytes in all exceed {MAX_TOTAL_BUFFER_BYTES}")
    if not isinstance(args, list) or len(args) > MAX_PARAMS:
        raise _fail("case.args", f"must be a list of at most {MAX_PARAMS} arguments")
    if params is not None and len(args) != len(params):
        raise _fail("case.args", f"{len(args)} arguments for {len(params)} spec parameters")
    used: set[str] = set()
    for i, a in enumerate(args):
        path = f"case.args[{i}]"
        if not isinstance(a, dict) or not {"name", "kind", "dtype"} <= set(a) <= \
                {"name", "kind", "dtype", "value", "buffer"}:
            raise _fail(path, "an argument is an object with name, kind, dtype, value, buffer")
        check_name(a["name"], f"{path}.name")
        kind = _one_of(a["kind"], voc["param_kinds"], f"{path}.kind", "argument kind")
        if params is not None:
            p = params[i]
            if a["name"] != p["name"] or kind != p["kind"] or a["dtype"] != p.get("dtype", ""):
                raise _fail(path, f"{a['name']!r} ({kind}) does not match spec parameter {p['name']!r} "
                                  f"({p['kind']})")
        if kind == "ptr":
            buf = a.get("buffer")
            if not isinstance(buf, str) or buf not in buffers:
                raise _fail(f"{path}.buffer", f"names no buffer of the case: {_show(buf)}")
            if buffers[buf]["dtype"] != a["dtype"]:
                raise _fail(f"{path}.buffer", f"buffer {buf!r} is {buffers[buf]['dtype']}, the pointer {a['dtype']}")
            if a.get("value") is not None:
                raise _fail(f"{path}.value", "a pointer argument has no value")
            used.add(buf)
        elif a.get("buffer") is not None:
            raise _fail(f"{path}.buffer", "only pointer arguments name a buffer")
        elif kind == "scalar":
            _value(a.get("value"), _one_of(a["dtype"], voc["dtypes"], f"{path}.dtype", "dtype"), f"{path}.value")
        else:
            v = a.get("value")
            if captured and (v is None or isinstance(v, bool) or (isinstance(v, str) and len(v) <= 256)
                             or (_is_int(v) and -(1 << 63) <= v < (1 << 64))):
                continue  # a user's kernel may take None, a flag or a string as a constexpr
            if not _is_num(v) or (_is_int(v) and not INT_RANGE["int32"][0] <= v <= INT_RANGE["int32"][1]):
                raise _fail(f"{path}.value", f"constexpr value must be an int32 or a finite float, got {_show(v)}")
            if params is not None and (v != params[i]["value"] or type(v) is not type(params[i]["value"])):
                raise _fail(f"{path}.value", "a constexpr argument must equal the spec's value")
    unused = set(buffers) - used
    if unused:
        raise _fail("case.buffers", f"buffer(s) {', '.join(sorted(unused))} not passed to the kernel")
