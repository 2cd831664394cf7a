"""MLIR bodies for the library helpers that the adapter only declares (`func.func private`).

Why: the adapter leaves scans, sorts, gathers, flips, prints and histograms to Huawei's
bishengir library (`triton_cumsum_0`, `triton_sort`, `triton_gather`, `hfusion.histogram`, ...),
absent on CPU. We write reference bodies in plain tensor/scf MLIR, specialised to the constant
axis/flags of each call site, and let `--inline` fold them into the kernel. They favour being
obviously right over being fast (a bubble sort, scalar loops).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from backends.runner_api import Unsupported


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    elem: str

    @property
    def text(self) -> str:
        dims = "".join(f"{d}x" for d in self.shape)
        return f"tensor<{dims}{self.elem}>"

    @property
    def is_float(self) -> bool:
        return self.elem.startswith("f") or self.elem == "bf16"


_TENSOR_RE = re.compile(r"^tensor<((?:\d+x)*)([a-z]\w*)>$")


def parse_tensor(t: str) -> TensorType:
    m = _TENSOR_RE.match(t.strip())
    if not m:
        raise Unsupported(f"helper operand type {t!r} is not a static tensor")
    dims = tuple(int(d) for d in m.group(1).split("x") if d)
    return TensorType(dims, m.group(2))


class _Body:
    """Tiny SSA text emitter with a constant pool."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0
        self.consts: dict[tuple[str, str], str] = {}

    def fresh(self, p: str = "v") -> str:
        self.n += 1
        return f"%{p}{self.n}"

    def op(self, rhs: str) -> str:
        v = self.fresh()
        self.lines.append(f"    {v} = {rhs}")
        return v

    def raw(self, line: str) -> None:
        self.lines.append(f"    {line}")

    def const(self, value: str, ty: str) -> str:
        key = (value, ty)
        if key not in self.consts:
            v = self.fresh("c")
            self.lines.append(f"    {v} = arith.constant {value} : {ty}")
            self.consts[key] = v
        return self.consts[key]

    def idx(self, n: int) -> str:
        return self.const(str(n), "index")

    def zero(self, elem: str) -> str:
        return self.const("0.000000e+00" if _is_float(elem) else "0", elem)


def _is_float(elem: str) -> bool:
    return elem.startswith("f") or elem == "bf16"


def _loops(b: _Body, dims: list[tuple[int, int]], carried: str, ttype: str,
           inner: Callable[[dict[int, str], str], str], ivs: dict[int, str] | None = None) -> str:
    """Nested scf.for over (axis, extent) pairs carrying one tensor; inner returns the new tensor."""
    ivs = dict(ivs or {})
    if not dims:
        return inner(ivs, carried)
    (axis, extent), rest = dims[0], dims[1:]
    iv, acc, res = b.fresh("i"), b.fresh("acc"), b.fresh("r")
    c0, c1, ub = b.idx(0), b.idx(1), b.idx(extent)
    b.raw(f"{res} = scf.for {iv} = {c0} to {ub} step {c1} iter_args({acc} = {carried}) -> ({ttype}) {{")
    ivs[axis] = iv
    new = _loops(b, rest, acc, ttype, inner, ivs)
    b.raw(f"  scf.yield {new} : {ttype}")
    b.raw("}")
    return res


def _ix(ivs: dict[int, str], rank: int) -> str:
    return ", ".join(ivs[d] for d in range(rank))


def _header(name: str, arg_types: list[str], result_types: list[str]) -> tuple[str, list[str]]:
    args = [f"%a{i}" for i in range(len(arg_types))]
    params = ", ".join(f"{a}: {t}" for a, t in zip(args, arg_types))
    res = ""
    if result_types:
        res = " -> " + (result_types[0] if len(result_types) == 1 else f"({', '.join(result_types)})")
    return f"  func.func private @{name}({params}){res} {{", args


def _finish(head: str, b: _Body, ret: str | None, rtype: str | None) -> str:
    tail = f"    return {ret} : {rtype}" if ret else "    return"
    return "\n".join([head, *b.lines, tail, "  }"])


def scan(name: str, arg_types: list[str], axis: int, reverse: bool, kind: str) -> str:
    """Inclusive cumsum/cumprod along `axis` (first element copied, so -0.0 survives)."""
    t = parse_tensor(arg_types[0])
    head, args = _header(name, arg_types, [t.text])
    b = _Body()
    rank, n = len(t.shape), t.shape[axis]
    op = {("add", True): "arith.addf", ("add", False): "arith.addi",
          ("mul", True): "arith.mulf", ("mul", False): "arith.muli"}[(kind, t.is_float)]
    init = b.op(f"tensor.empty() : {t.text}")
    outer = [(d, t.shape[d]) for d in range(rank) if d != axis]

    def inner(ivs: dict[int, str], acc: str) -> str:
        k, tt, run, res = b.fresh("k"), b.fresh("t"), b.fresh("run"), b.fresh("s")
        c0, c1, ub, last = b.idx(0), b.idx(1), b.idx(n), b.idx(n - 1)
        zero = b.zero(t.elem)
        b.raw(f"{res}:2 = scf.for {k} = {c0} to {ub} step {c1} iter_args({tt} = {acc}, {run} = {zero})"
              f" -> ({t.text}, {t.elem}) {{")
        pos = b.op(f"arith.subi {last}, {k} : index") if reverse else k
        ix = _ix({**ivs, axis: pos}, rank)
        v = b.op(f"tensor.extract {args[0]}[{ix}] : {t.text}")
        comb = b.op(f"{op} {run}, {v} : {t.elem}")
        first = b.op(f"arith.cmpi eq, {k}, {c0} : index")
        s = b.op(f"arith.select {first}, {v}, {comb} : {t.elem}")
        t2 = b.op(f"tensor.insert {s} into {tt}[{ix}] : {t.text}")
        b.raw(f"  scf.yield {t2}, {s} : {t.text}, {t.elem}")
        b.raw("}")
        return f"{res}#0"

    out = _loops(b, outer, init, t.text, inner)
    return _finish(head, b, out, t.text)


def sort(name: str, arg_types: list[str], axis: int, descending: bool) -> str:
    """Bubble sort along `axis` (stable; NaNs stay where the comparisons leave them)."""
    t = parse_tensor(arg_types[0])
    head, args = _header(name, arg_types, [t.text])
    b = _Body()
    rank, n = len(t.shape), t.shape[axis]
    outer = [(d, t.shape[d]) for d in range(rank) if d != axis]
    if t.is_float:
        pred = "arith.cmpf olt" if descending else "arith.cmpf ogt"
    else:
        pred = "arith.cmpi slt" if descending else "arith.cmpi sgt"

    def inner(ivs: dict[int, str], acc: str) -> str:
        c1 = b.idx(1)

        def compare_swap(jvs: dict[int, str], cur: str) -> str:
            j = jvs[axis]
            j1 = b.op(f"arith.addi {j}, {c1} : index")
            ia, ib = _ix(jvs, rank), _ix({**jvs, axis: j1}, rank)
            x = b.op(f"tensor.extract {cur}[{ia}] : {t.text}")
            y = b.op(f"tensor.extract {cur}[{ib}] : {t.text}")
            sw = b.op(f"{pred}, {x}, {y} : {t.elem}")
            lo = b.op(f"arith.select {sw}, {y}, {x} : {t.elem}")
            hi = b.op(f"arith.select {sw}, {x}, {y} : {t.elem}")
            t1 = b.op(f"tensor.insert {lo} into {cur}[{ia}] : {t.text}")
            return b.op(f"tensor.insert {hi} into {t1}[{ib}] : {t.text}")

        def one_pass(pvs: dict[int, str], cur: str) -> str:
            return _loops(b, [(axis, n - 1)], cur, t.text, compare_swap, {**ivs})

        return _loops(b, [(-1, n)], acc, t.text, one_pass, {**ivs})

    out = _loops(b, outer, args[0], t.text, inner)
    return _finish(head, b, out, t.text)


def flip(name: str, arg_types: list[str], axis: int) -> str:
    t = parse_tensor(arg_types[0])
    head, args = _header(name, arg_types, [t.text])
    b = _Body()
    rank, last = len(t.shape), b.idx(t.shape[axis] - 1)
    init = b.op(f"tensor.empty() : {t.text}")

    def inner(ivs: dict[int, str], acc: str) -> str:
        src = b.op(f"arith.subi {last}, {ivs[axis]} : index")
        v = b.op(f"tensor.extract {args[0]}[{_ix({**ivs, axis: src}, rank)}] : {t.text}")
        return b.op(f"tensor.insert {v} into {acc}[{_ix(ivs, rank)}] : {t.text}")

    out = _loops(b, list(enumerate(t.shape)), init, t.text, inner)
    return _finish(head, b, out, t.text)


def gather(name: str, arg_types: list[str], result_type: str, axis: int) -> str:
    """out[i] = src[i with i[axis] replaced by idx[i]] (tl.gather semantics)."""
    src, idx, out_t = parse_tensor(arg_types[0]), parse_tensor(arg_types[1]), parse_tensor(result_type)
    head, args = _header(name, arg_types, [out_t.text])
    b = _Body()
    rank = len(out_t.shape)
    init = b.op(f"tensor.empty() : {out_t.text}")

    def inner(ivs: dict[int, str], acc: str) -> str:
        iv = b.op(f"tensor.extract {args[1]}[{_ix(ivs, rank)}] : {idx.text}")
        ii = b.op(f"arith.index_cast {iv} : {idx.elem} to index")
        v = b.op(f"tensor.extract {args[0]}[{_ix({**ivs, axis: ii}, rank)}] : {src.text}")
        return b.op(f"tensor.insert {v} into {acc}[{_ix(ivs, rank)}] : {out_t.text}")

    out = _loops(b, list(enumerate(out_t.shape)), init, out_t.text, inner)
    return _finish(head, b, out, out_t.text)


def histogram(name: str, in_type: str, out_type: str) -> str:
    """Counts of each value in [0, bins); values outside are ignored."""
    src, out_t = parse_tensor(in_type), parse_tensor(out_type)
    head, args = _header(name, [in_type], [out_t.text])
    b = _Body()
    rank, bins = len(src.shape), out_t.shape[0]
    init = b.op(f"arith.constant dense<0> : {out_t.text}")
    one = b.const("1", out_t.elem)

    def inner(ivs: dict[int, str], acc: str) -> str:
        v = b.op(f"tensor.extract {args[0]}[{_ix(ivs, rank)}] : {src.text}")
        vi = b.op(f"arith.index_cast {v} : {src.elem} to index")
        ge = b.op(f"arith.cmpi sge, {vi}, {b.idx(0)} : index")
        lt = b.op(f"arith.cmpi slt, {vi}, {b.idx(bins)} : index")
        ok = b.op(f"arith.andi {ge}, {lt} : i1")
        res = b.fresh("h")
        b.raw(f"{res} = scf.if {ok} -> ({out_t.text}) {{")
        old = b.op(f"tensor.extract {acc}[{vi}] : {out_t.text}")
        new = b.op(f"arith.addi {old}, {one} : {out_t.elem}")
        upd = b.op(f"tensor.insert {new} into {acc}[{vi}] : {out_t.text}")
        b.raw(f"  scf.yield {upd} : {out_t.text}")
        b.raw("} else {")
        b.raw(f"  scf.yield {acc} : {out_t.text}")
        b.raw("}")
        return res

    out = _loops(b, list(enumerate(src.shape)), init, out_t.text, inner)
    return _finish(head, b, out, out_t.text)


def noop(name: str, arg_types: list[str]) -> str:
    """Device prints: dropped (the child's stdout belongs to the worker protocol)."""
    head, _ = _header(name, arg_types, [])
    return _finish(head, _Body(), None, None)
