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

import ast
import base64
import binascii
import inspect
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
ITEMSIZE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp64": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
            "int1": 1}
INT_RANGE = {"int1": (0, 1), "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
             "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1)}

# Fields of each node kind: (required, optional). Values are checked per field below.
EXPR_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "arg": (("name",), ()), "var": (("name",), ()), "const": (("v", "dt"), ()), "pid": (("axis",), ()),
    "arange": (("n",), ("cx",)), "full": (("shape", "v", "dt"), ("zeros",)), "bin": (("op", "a", "b"), ()),
    "un": (("op", "x"), ()), "call": (("fn", "args"), ()), "cast": (("x", "dt"), ()),
    "expand": (("x", "axis"), ()), "bcast": (("x", "shape"), ()), "reshape": (("x", "shape"), ()),
    "trans": (("x",), ()), "reduce": (("fn", "x", "axis"), ()), "dot": (("a", "b"), ("acc", "prec")),
    "load": (("ptr",), ("mask", "other")), "where": (("c", "a", "b"), ()),
}
STMT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "let": (("name", "e"), ()), "store": (("ptr", "val"), ("mask",)),
    "for": (("var", "lo", "hi", "body"), ("kind",)),
}


class CaseInvalid(ValueError):
    """A case file that must not be run; the message names the JSON path and what is wrong."""


def _kinds_compared_in(fn: Any, var: str) -> tuple[str, ...]:
    """String constants that `fn` compares its local `var` with (`if k == "bin"`): the kinds it knows."""
    tree = ast.parse(inspect.getsource(fn).lstrip())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == var:
            for c in node.comparators:
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    found.append(c.value)
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=1)
def allowed_vocabulary() -> dict[str, tuple[Any, ...]]:
    """Every operator, function, dtype, node kind and axis a case may use.

    Read from generators.spec (its constants, and the node kinds its type checker handles), so a
    kind the checker does not know is refused rather than rendered. The construct registry will
    own these sets; this function is the one place to re-point.
    """
    from generators import spec as S

    expr_kinds = tuple(k for k in _kinds_compared_in(S.typeof, "k") if k in EXPR_FIELDS)
    stmt_kinds = tuple(k for k in _kinds_compared_in(S._check_block, "k") if k in STMT_FIELDS)
    dtypes = (*S.FLOAT_DTYPES, *S.INT_DTYPES)
    return {
        "expr_kinds": expr_kinds,
        "stmt_kinds": stmt_kinds,
        "bin_ops": (*S.ARITH_OPS, *S.BIT_OPS, *S.CMP_OPS),
        "un_ops": UN_OPS,
        "call_fns": (*S.MATH_FNS, *BINARY_FNS),
        "reduce_fns": tuple(S.REDUCE_FNS),
        "dtypes": dtypes,  # element dtypes of values, casts, constants, buffers
        "const_dtypes": (*dtypes, "int1"),
        "pid_axes": (0, 1, 2),
        "param_kinds": ("ptr", "scalar", "constexpr"),
        "loop_kinds": ("range", "static_range"),
        "dot_precisions": DOT_PRECISIONS,
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


def _shape(v: Any, path: str) -> list[int]:
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_RANK:
        raise _fail(path, f"a shape must be a list of 1..{MAX_RANK} sizes")
    n = 1
    for i, d in enumerate(v):
        _int_in(d, 1, MAX_DIM, f"{path}[{i}]", "size")
        n *= d
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

class _SpecChecker:
    def __init__(self, voc: dict[str, tuple[Any, ...]], params: dict[str, dict[str, Any]]) -> None:
        self.voc = voc
        self.params = params
        self.nodes = 0

    def _fields(self, node: Any, table: dict[str, tuple[tuple[str, ...], tuple[str, ...]]], key: str,
                allowed: tuple[str, ...], path: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise _fail(path, f"nested deeper than {MAX_DEPTH}")
        if not isinstance(node, dict):
            raise _fail(path, f"expected a node object, got {type(node).__name__}")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(path, f"more than {MAX_NODES} nodes")
        kind = node.get(key)
        if not isinstance(kind, str) or kind not in allowed:
            what = "expression" if key == "e" else "statement"
            raise _fail(f"{path}.{key}", f"unknown {what} kind {_show(kind)}")
        required, optional = table[kind]
        for f in required:
            if f not in node:
                raise _fail(path, f"{kind} node lacks field {f!r}")
        extra = set(node) - {key, *required, *optional}
        if extra:
            raise _fail(path, f"{kind} node has unknown field(s) {', '.join(sorted(map(repr, extra)))}")
        return kind

    def expr(self, e: Any, path: str, depth: int) -> None:
        voc = self.voc
        k = self._fields(e, EXPR_FIELDS, "e", voc["expr_kinds"], path, depth)
        sub = depth + 1
        if k == "arg":
            name = check_name(e["name"], f"{path}.name")
            if name not in self.params:
                raise _fail(f"{path}.name", f"unknown parameter {name!r}")
        elif k == "var":
            check_name(e["name"], f"{path}.name")
        elif k == "const":
            dt = _one_of(e["dt"], voc["const_dtypes"], f"{path}.dt", "dtype")
            _value(e["v"], dt, f"{path}.v")
        elif k == "pid":
            _one_of(e["axis"], voc["pid_axes"], f"{path}.axis", "program axis")
        elif k == "arange":
            n = _int_in(e["n"], 1, MAX_DIM, f"{path}.n", "arange size")
            if n & (n - 1):
                raise _fail(f"{path}.n", f"arange size {n} is not a power of two")
            cx = e.get("cx")
            if cx is not None:
                check_name(cx, f"{path}.cx")
                p = self.params.get(cx)
                if p is None or p.get("kind") != "constexpr" or p.get("value") != n:
                    raise _fail(f"{path}.cx", f"{cx!r} is not a constexpr parameter of value {n}")
        elif k == "full":
            _shape(e["shape"], f"{path}.shape")
            dt = _one_of(e["dt"], voc["dtypes"], f"{path}.dt", "dtype")
            _value(e["v"], dt, f"{path}.v")
            if "zeros" in e and not isinstance(e["zeros"], bool):
                raise _fail(f"{path}.zeros", "must be true or false")
        elif k == "bin":
            _one_of(e["op"], voc["bin_ops"], f"{path}.op", "operator")
            self.expr(e["a"], f"{path}.a", sub)
            self.expr(e["b"], f"{path}.b", sub)
        elif k == "un":
            _one_of(e["op"], voc["un_ops"], f"{path}.op", "unary operator")
            self.expr(e["x"], f"{path}.x", sub)
        elif k == "call":
            fn = _one_of(e["fn"], voc["call_fns"], f"{path}.fn", "function")
            args = e["args"]
            arity = 2 if fn in BINARY_FNS else 1
            if not isinstance(args, list) or len(args) != arity:
                raise _fail(f"{path}.args", f"{fn} takes {arity} argument(s)")
            for i, a in enumerate(args):
                self.expr(a, f"{path}.args[{i}]", sub)
        elif k == "cast":
            _one_of(e["dt"], voc["dtypes"], f"{path}.dt", "dtype")
            self.expr(e["x"], f"{path}.x", sub)
        elif k in ("expand", "reduce"):
            _int_in(e["axis"], 0, MAX_RANK - 1, f"{path}.axis", "axis")
            if k == "reduce":
                _one_of(e["fn"], voc["reduce_fns"], f"{path}.fn", "reduce function")
            self.expr(e["x"], f"{path}.x", sub)
        elif k in ("bcast", "reshape"):
            _shape(e["shape"], f"{path}.shape")
            self.expr(e["x"], f"{path}.x", sub)
        elif k == "trans":
            self.expr(e["x"], f"{path}.x", sub)
        elif k == "dot":
            _one_of(e.get("prec"), voc["dot_precisions"], f"{path}.prec", "input precision")
            for f in ("a", "b", "acc"):
                if f == "acc" and e.get("acc") is None:
                    continue
                self.expr(e[f], f"{path}.{f}", sub)
        elif k == "load":
            self.expr(e["ptr"], f"{path}.ptr", sub)
            for f in ("mask", "other"):
                if e.get(f) is not None:
                    self.expr(e[f], f"{path}.{f}", sub)
        elif k == "where":
            for f in ("c", "a", "b"):
                self.expr(e[f], f"{path}.{f}", sub)

    def block(self, body: Any, path: str, depth: int) -> None:
        if not isinstance(body, list):
            raise _fail(path, f"a body must be a list of statements, got {type(body).__name__}")
        for i, s in enumerate(body):
            p = f"{path}[{i}]"
            k = self._fields(s, STMT_FIELDS, "s", self.voc["stmt_kinds"], p, depth)
            sub = depth + 1
            if k == "let":
                self._local(s["name"], f"{p}.name")
                self.expr(s["e"], f"{p}.e", sub)
            elif k == "store":
                self.expr(s["ptr"], f"{p}.ptr", sub)
                self.expr(s["val"], f"{p}.val", sub)
                if s.get("mask") is not None:
                    self.expr(s["mask"], f"{p}.mask", sub)
            elif k == "for":
                self._local(s["var"], f"{p}.var")
                _one_of(s.get("kind", "range"), self.voc["loop_kinds"], f"{p}.kind", "loop kind")
                for f in ("lo", "hi"):
                    self.expr(s[f], f"{p}.{f}", sub)
                lo, hi = s["lo"], s["hi"]
                if lo.get("e") == "const" and hi.get("e") == "const" and hi["v"] - lo["v"] > MAX_LOOP_CONST:
                    raise _fail(p, f"loop of {hi['v'] - lo['v']} trips exceeds {MAX_LOOP_CONST}")
                self.block(s["body"], f"{p}.body", sub)

    def _local(self, name: Any, path: str) -> None:
        check_name(name, path)
        if name in self.params:
            raise _fail(path, f"local {name!r} shadows the parameter of that name")


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
    extra = set(spec) - {"schema", "name", "params", "grid", "num_warps", "body", "tags"}
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
               "features", "seed", "generator_version", "kind")


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
    g = grid(d["grid"], "case.grid")
    nw = _one_of(d.get("num_warps", 4), NUM_WARPS, "case.num_warps", "num_warps")
    name = check_name(d["kernel_name"], "case.kernel_name")
    if kind == "captured":
        if not trust_captured:
            raise _fail("case.kind", "a captured kernel runs its stored source as Python; refused "
                                     "without --trust-captured")
        params = None
    else:
        spec = validate_spec(d["spec"])
        if name != spec["name"]:
            raise _fail("case.kernel_name", f"{name!r} differs from the spec's kernel name {spec['name']!r}")
        if list(g) != spec["grid"]:
            raise _fail("case.grid", f"{list(g)} differs from the spec's grid {spec['grid']}")
        if nw != spec.get("num_warps", 4):
            raise _fail("case.num_warps", "differs from the spec's num_warps")
        params = spec["params"]
    _launch(d["args"], d["buffers"], params)
    return d


def _launch(args: Any, buffers: Any, params: list[dict[str, Any]] | None) -> None:
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
            if not _is_num(v) or (_is_int(v) and not INT_RANGE["int32"][0] <= v <= INT_RANGE["int32"][1]):
                raise _fail(f"{path}.value", f"constexpr value must be an int32 or a finite float, got {_show(v)}")
            if params is not None and (v != params[i]["value"] or type(v) is not type(params[i]["value"])):
                raise _fail(f"{path}.value", "a constexpr argument must equal the spec's value")
    unused = set(buffers) - used
    if unused:
        raise _fail("case.buffers", f"buffer(s) {', '.join(sorted(unused))} not passed to the kernel")
