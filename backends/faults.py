"""Fault-injection backends: the only test doubles in tritondiff.

Each `fault-<kind>` backend is the real interpreter backend (`backends.triton_runner`, stock
triton with TRITON_INTERPRET=1) with exactly one injected defect, modelled on a field report.
They exist to prove that the oracles catch what they claim to catch; a campaign against a real
backend never uses them. This module runs inside the worker, like any runner.

* fault-drop-scalar-mul — miscompile (SpacemiT report: `acc * sm_scale` lost the scale).
  The kernel source's Python AST is rewritten so every `X * s` and `s * X`, and `X *= s`, where
  `s` is a scalar kernel parameter (runtime scalar or constexpr, by name), calls a helper that
  returns `X` unchanged when `X` is a block tensor and `X * s` otherwise. Scalar·scalar products
  such as `pid * BLOCK` are untouched, so addressing stays right and only values go wrong.
* fault-mask2d — miscompile (wrong 2-D masks). Wraps the interpreter's `create_masked_load` and
  `create_masked_store`: when the mask is 2-D and its rows differ, the True lanes of its *last*
  row are set False. Lanes are only ever removed, so it stays in bounds: a load yields `other`
  (or 0) there, a store leaves the old value.
* fault-segfault — crash (Ascend report: `//` in pointer offsets segfaulted the adapter).
  When the kernel module contains a floor division (`//` or `//=`, found in the AST, comments
  do not count), the worker reports stage "compile" and sends itself SIGSEGV.
* fault-hang — timeout. When the kernel module contains a `for` loop, the worker reports stage
  "compile" and sleeps forever (the orchestrator's per-case timeout must kill it).
* fault-slow — a slow host, not a bug. When the kernel module contains a `for` loop, the worker
  sleeps SLOW_S seconds at stage "compile", then runs the case as the interpreter does: under a
  shorter per-case timeout it times out once, given time it agrees with the reference (the
  campaign's timeout confirmation must not report it).
* fault-runtime-scale — miscompile that depends on how a scalar is passed (the SpacemiT report:
  `acc * sm_scale` broke or worked as sm_scale was a runtime argument, a constexpr or a literal).
  The same AST rewrite as fault-drop-scalar-mul, applied only to products with a *runtime* fp32
  scalar argument: `X * s` with `s: tl.constexpr`, or the literal, stays right. Only a
  metamorphic oracle (runtime scalar <-> constexpr <-> literal) sees it without a reference.
* fault-warps8 — miscompile only when the kernel is launched with num_warps == 8 (a layout bug of
  one warp count). Wraps `create_masked_store`: at num_warps 8 the last masked-in lane (in
  row-major order) of every store is dropped, so that element keeps its old value. Lanes are only
  removed, so it stays in bounds.
* fault-oob-store — out-of-bounds write. Wraps `create_masked_store`: after a masked store with
  at least one False lane and one True lane, it also writes the value stored at the highest
  masked-in address to the element just past it. For a tail block this lands in the guard
  region after the buffer (an `oob-write` finding); elsewhere it may clobber a neighbour.
"""

from __future__ import annotations

import ast
import copy
import os
import signal
import time
from typing import Any

import numpy as np

from backends import triton_runner
from backends.runner_api import report_stage

FAULT_HELPER = "_tritondiff_fault_mul"
_HELPER_SOURCE = f'''

def {FAULT_HELPER}(x, s):
    """Injected by tritondiff's fault-drop-scalar-mul backend: a block times a scalar is the block."""
    ty = getattr(x, "type", None)
    if ty is not None and getattr(ty, "is_block", lambda: False)():
        return x
    return x * s
'''

_installed: set[str] = set()


def prepare(options: dict) -> dict:
    """Start the real interpreter runner, then install this backend's fault."""
    info = triton_runner.prepare(options)
    kind = options["fault"]
    if kind in ("mask2d", "oob-store", "warps8") and kind not in _installed:
        from triton.runtime.interpreter import InterpreterBuilder

        {"mask2d": _wrap_mask2d, "oob-store": _wrap_oob_store, "warps8": _wrap_warps8}[kind](InterpreterBuilder)
        _installed.add(kind)
    info.setdefault("versions", {})["fault"] = kind
    return info


def run_case(case: dict, options: dict) -> dict:
    kind = options["fault"]
    tree = _parse(case["source"])
    if kind == "segfault" and tree is not None and _has(tree, _is_floordiv):
        report_stage("compile")
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)  # the signal is delivered before this returns
    if kind == "hang" and tree is not None and _has(tree, lambda n: isinstance(n, ast.For)):
        report_stage("compile")
        while True:
            time.sleep(3600)
    if kind == "slow" and tree is not None and _has(tree, lambda n: isinstance(n, ast.For)):
        report_stage("compile")
        time.sleep(SLOW_S)
    if kind in ("drop-scalar-mul", "runtime-scale") and tree is not None:
        case = dict(case, source=drop_scalar_mul(tree, case["kernel_name"], fault_scalars(kind, case["args"])))
    _launch["num_warps"] = int(case.get("num_warps", 4))
    return triton_runner.run_case(case, options)


SLOW_S = 3.0  # fault-slow's delay
_launch: dict[str, int] = {}  # the launch in flight, read by the interpreter-level faults


def fault_scalars(kind: str, args: list[dict]) -> set[str]:
    """Names of the scalar parameters whose products the double drops."""
    if kind == "runtime-scale":
        return {a["name"] for a in args if a["kind"] == "scalar" and a["dtype"] in ("fp32", "fp16", "bf16", "fp64")}
    return {a["name"] for a in args if a["kind"] in ("scalar", "constexpr")}


def needs_restart() -> bool:
    return triton_runner.needs_restart()


def shutdown() -> None:
    triton_runner.shutdown()


# --------------------------------------------------------------------------------------------
# source faults


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None  # let the real runner report the frontend error


def _has(tree: ast.AST, pred: Any) -> bool:
    return any(pred(n) for n in ast.walk(tree))


def _is_floordiv(n: ast.AST) -> bool:
    return isinstance(n, (ast.BinOp, ast.AugAssign)) and isinstance(n.op, ast.FloorDiv)


class _DropScalarMul(ast.NodeTransformer):
    def __init__(self, scalars: set[str]) -> None:
        self.scalars = scalars
        self.changed = 0

    def _is_scalar(self, n: ast.AST) -> bool:
        return isinstance(n, ast.Name) and n.id in self.scalars

    def _call(self, x: ast.expr, s: ast.expr) -> ast.Call:
        self.changed += 1
        return ast.Call(func=ast.Name(FAULT_HELPER, ast.Load()), args=[x, s], keywords=[])

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult):
            if self._is_scalar(node.right):
                return self._call(node.left, node.right)
            if self._is_scalar(node.left):
                return self._call(node.right, node.left)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult) and self._is_scalar(node.value) and isinstance(node.target, ast.Name):
            value = self._call(ast.Name(node.target.id, ast.Load()), node.value)
            return ast.Assign(targets=[node.target], value=value, lineno=node.lineno)
        return node


def drop_scalar_mul(tree: ast.Module, kernel_name: str, scalars: set[str]) -> str:
    """Source of the module with the kernel's block×scalar-parameter products rewritten."""
    tree = copy.deepcopy(tree)
    tr = _DropScalarMul(scalars)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == kernel_name:
            tr.visit(node)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n" + _HELPER_SOURCE


# --------------------------------------------------------------------------------------------
# interpreter faults


def _with_data(handle: Any, data: np.ndarray) -> Any:
    h = copy.copy(handle)
    h.data = data
    return h


def _drop_last_row(mask: Any) -> Any:
    m = np.asarray(mask.data)
    if m.ndim != 2 or m.shape[0] < 2 or (m == m[:1]).all():
        return mask
    m = m.copy()
    m[-1, :] = False
    return _with_data(mask, m)


def _wrap_mask2d(builder_cls: Any) -> None:
    orig_load = builder_cls.create_masked_load
    orig_store = builder_cls.create_masked_store

    # Triton passes cache/eviction hints as keywords on newer releases: forward whatever comes.
    def create_masked_load(self: Any, ptrs: Any, mask: Any, *rest: Any, **kw: Any) -> Any:
        return orig_load(self, ptrs, _drop_last_row(mask), *rest, **kw)

    def create_masked_store(self: Any, ptrs: Any, value: Any, mask: Any, *rest: Any, **kw: Any) -> Any:
        return orig_store(self, ptrs, value, _drop_last_row(mask), *rest, **kw)

    builder_cls.create_masked_load = create_masked_load
    builder_cls.create_masked_store = create_masked_store


def _wrap_oob_store(builder_cls: Any) -> None:
    orig_store = builder_cls.create_masked_store

    def create_masked_store(self: Any, ptrs: Any, value: Any, mask: Any, *rest: Any, **kw: Any) -> Any:
        ret = orig_store(self, ptrs, value, mask, *rest, **kw)
        m = np.broadcast_to(np.asarray(mask.data, dtype=bool), np.shape(ptrs.data))
        if m.all() or not m.any():
            return ret
        addrs = np.asarray(ptrs.data)[m]
        vals = np.broadcast_to(np.asarray(value.data), m.shape)[m]
        i = int(np.argmax(addrs))
        step = vals.dtype.itemsize
        extra_ptr = _with_data(ptrs, np.array([addrs[i] + step], dtype=np.asarray(ptrs.data).dtype))
        extra_val = _with_data(value, np.array([vals[i]], dtype=vals.dtype))
        extra_mask = _with_data(mask, np.array([True]))
        orig_store(self, extra_ptr, extra_val, extra_mask, *rest, **kw)
        return ret

    builder_cls.create_masked_store = create_masked_store


def _drop_last_lane(mask: Any, shape: tuple[int, ...]) -> Any:
    m = np.array(np.broadcast_to(np.asarray(mask.data, dtype=bool), shape))
    on = np.flatnonzero(m)
    if on.size == 0:
        return mask
    m.flat[on[-1]] = False
    return _with_data(mask, m)


def _wrap_warps8(builder_cls: Any) -> None:
    orig_store = builder_cls.create_masked_store

    def create_masked_store(self: Any, ptrs: Any, value: Any, mask: Any, *rest: Any, **kw: Any) -> Any:
        if _launch.get("num_warps") == 8:
            mask = _drop_last_lane(mask, np.shape(ptrs.data))
        return orig_store(self, ptrs, value, mask, *rest, **kw)

    builder_cls.create_masked_store = create_masked_store
