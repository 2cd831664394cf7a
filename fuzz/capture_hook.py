"""Runs inside the user's own program during `tritondiff capture`: records every interpreted launch.

Loaded by the sitecustomize that `fuzz.capture` puts first on PYTHONPATH (by file path, so no
tritondiff package shadows the user's modules). It imports only the standard library and, once
the program imports Triton, triton and torch. When `triton.runtime.interpreter` is imported it
wraps `InterpretedFunction.run`, the one entry every launch takes under TRITON_INTERPRET=1
(plain `kernel[grid](...)`, autotuned and heuristics-wrapped kernels alike), and writes one JSON
record per distinct launch into $TRITONDIFF_CAPTURE_SPOOL: the kernel's source with the jit
functions and globals it uses, the arguments bound to the kernel's parameters, the storage each
tensor argument reaches before and after the launch, the grid, num_warps/num_stages and the
file:line of the launching code. The orchestrator (`fuzz.capture`) turns records into corpus cases.

A launch that cannot be recorded (an argument kind we do not model, a global we cannot write
back as source, inputs above the size cap) gets one line in notes.txt and runs unchanged.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import sys
import textwrap
import threading
from typing import Any

SPOOL = os.environ.get("TRITONDIFF_CAPTURE_SPOOL", "")
MAX_BYTES = int(os.environ.get("TRITONDIFF_CAPTURE_MAX_BYTES", str(16 << 20)))

TORCH_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64",
                "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "bool": "int1",
                "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
                "float8_e4m3fn": "fp8e4nv", "float8_e5m2": "fp8e5"}
# Modules a captured kernel may name as a global (they are part of Triton or the standard library).
MODULE_PREFIXES = ("triton", "math")

_seen: set[str] = set()
_noted: set[str] = set()
_lock = threading.Lock()
_counter = [0]


class Uncapturable(Exception):
    """This launch uses something a corpus case cannot hold."""


# ---- installing the hook --------------------------------------------------------------------


class _Finder(importlib.abc.MetaPathFinder):
    """Patches triton.runtime.interpreter right after it is first imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "triton.runtime.interpreter":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader

        class _Loader(importlib.abc.Loader):
            def create_module(self, s: Any) -> Any:
                return inner.create_module(s)

            def exec_module(self, module: Any) -> None:
                inner.exec_module(module)
                patch(module)

        spec.loader = _Loader()
        return spec


def install() -> None:
    if not SPOOL:
        return
    mod = sys.modules.get("triton.runtime.interpreter")
    if mod is not None:
        patch(mod)
    else:
        sys.meta_path.insert(0, _Finder())


def patch(interp: Any) -> None:
    cls = getattr(interp, "InterpretedFunction", None)
    if cls is None or getattr(cls.run, "_tritondiff", False):
        return
    orig = cls.run

    def run(self: Any, *args: Any, grid: Any, warmup: Any, **kwargs: Any) -> Any:
        if warmup:
            return orig(self, *args, grid=grid, warmup=warmup, **kwargs)
        rec = None
        try:
            rec = begin(self.fn, args, kwargs, grid)
        except Uncapturable as e:
            note(getattr(self.fn, "__name__", "?"), str(e))
        except Exception as e:  # never break the user's program
            note(getattr(self.fn, "__name__", "?"), f"tritondiff capture failed: {type(e).__name__}: {e}")
        try:
            out = orig(self, *args, grid=grid, warmup=warmup, **kwargs)
        except BaseException as e:
            if rec is not None:  # kept without outputs: other backends can still compile it
                try:
                    finish(rec, f"{type(e).__name__}: {e}")
                except Exception:
                    pass
            raise
        if rec is not None:
            try:
                finish(rec)
            except Uncapturable as e:
                note(rec["kernel_name"], str(e))
            except Exception as e:
                note(rec["kernel_name"], f"tritondiff capture failed: {type(e).__name__}: {e}")
        return out

    run._tritondiff = True  # type: ignore[attr-defined]
    cls.run = run
    if FP32_SCALARS:
        _float_scalars_as_fp32(interp)


FP32_SCALARS = os.environ.get("TRITONDIFF_CAPTURE_FP32_SCALARS", "1") == "1"


def _float_scalars_as_fp32(interp: Any) -> None:
    """Pass float arguments as fp32 scalars, as compiled Triton does.

    The stock interpreter hands the kernel a Python float, on which `x.to(tl.float32)` (common in
    real kernels: `eps.to(...)`) raises AttributeError, so the user's program would stop at its
    first such launch under capture. The recorded case still passes a plain float: replaying it
    on the stock interpreter shows that gap as the interpreter's own verdict.
    """
    orig = getattr(interp, "_implicit_cvt", None)
    handle_cls = getattr(interp, "TensorHandle", None)
    if orig is None or handle_cls is None or getattr(orig, "_tritondiff", False):
        return
    import numpy as np
    import triton.language as tl

    def cvt(arg: Any) -> Any:
        if isinstance(arg, float):
            return tl.tensor(handle_cls(np.array([arg], dtype=np.float32), tl.float32), tl.float32)
        return orig(arg)

    cvt._tritondiff = True  # type: ignore[attr-defined]
    interp._implicit_cvt = cvt


def note(kernel: str, text: str) -> None:
    line = f"{kernel}: {text}"
    with _lock:
        if line in _noted:
            return
        _noted.add(line)
        with open(os.path.join(SPOOL, "notes.txt"), "a") as f:
            f.write(line.replace("\n", " ")[:400] + "\n")


# ---- kernel source ----------------------------------------------------------------------------


def _py_fn(obj: Any) -> Any:
    """The Python function of a jit function (interpreted or compiled flavour), else None."""
    from triton.runtime.jit import JITFunction

    try:
        from triton.runtime.interpreter import InterpretedFunction
    except ImportError:  # pragma: no cover
        InterpretedFunction = JITFunction  # noqa: N806
    if isinstance(obj, (JITFunction, InterpretedFunction)):
        return obj.fn
    return None


def _def_source(fn: Any) -> tuple[str, ast.FunctionDef]:
    src = textwrap.dedent(inspect.getsource(fn))
    tree = ast.parse(src)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise Uncapturable(f"{fn.__name__}: source is not a plain function definition")
    return src, node


def _jit_decorator(node: ast.FunctionDef) -> str:
    """`@triton.jit` with the jit decorator's own keywords (noinline, ...); others are dropped."""
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "jit":
            if isinstance(d, ast.Call) and d.keywords:
                kws = ", ".join(ast.unparse(k) for k in d.keywords if k.arg not in ("do_not_specialize",
                                                                                    "do_not_specialize_on_alignment"))
                return f"@triton.jit({kws})" if kws else "@triton.jit"
            return "@triton.jit"
    return "@triton.jit"


def _loaded_names(node: ast.AST) -> list[str]:
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in out:
            out.append(n.id)
    return out


def _local_names(node: ast.FunctionDef) -> set[str]:
    a = node.args
    out = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
    return out


def kernel_source(fn: Any) -> str:
    """A self-contained module: imports, the globals the kernel uses, its jit helpers, the kernel."""
    header = ["import triton", "import triton.language as tl"]
    consts: list[str] = []
    funcs: list[str] = []
    bound: dict[str, str] = {"triton": "module triton", "tl": "module triton.language"}
    done: set[Any] = set()

    def bind(name: str, text: str, kind: str, where: str) -> None:
        if name in bound:
            if bound[name] != kind:
                raise Uncapturable(f"{where}: global {name!r} means two things in the kernel and a helper")
            return
        bound[name] = kind
        (header if kind.startswith("module") or kind.startswith("from") else consts).append(text)

    def visit(f: Any) -> None:
        if f in done:
            return
        done.add(f)
        src, node = _def_source(f)
        g = f.__globals__
        body = node.body
        local = _local_names(node)
        for name in _loaded_names(ast.Module(body=body, type_ignores=[])) + _loaded_names(node.args):
            if name in local or name not in g:
                continue  # a parameter, a local, a builtin (closures are refused below)
            v = g[name]
            inner = _py_fn(v)
            if inner is not None:
                visit(inner)
                if inner.__name__ != name:
                    bind(name, f"{name} = {inner.__name__}", f"alias {inner.__name__}", f.__name__)
                continue
            describe(name, v, f.__name__)
        if f.__code__.co_freevars:
            raise Uncapturable(f"{f.__name__}: a jit function that closes over local variables")
        lines = src.splitlines()
        start = node.lineno - 1  # the `def` line: decorators are rewritten below
        text = "\n".join(lines[start:])
        funcs.append(_jit_decorator(node) + "\n" + text.rstrip() + "\n")

    def describe(name: str, v: Any, where: str) -> None:
        import triton.language as tl

        if inspect.ismodule(v):
            mod = v.__name__
            if mod.split(".")[0] not in MODULE_PREFIXES:
                raise Uncapturable(f"{where}: uses module {mod!r} (only triton and math modules are recorded)")
            bind(name, f"import {mod} as {name}" if mod != name else f"import {mod}", f"module {mod}", where)
        elif isinstance(v, tl.constexpr):
            bind(name, f"{name} = tl.constexpr({_literal(v.value, name)})", f"const {v.value!r}", where)
        elif isinstance(v, tl.dtype):
            bind(name, f"{name} = tl.dtype({str(v.name)!r})", f"dtype {v.name}", where)
        elif v is None or isinstance(v, (bool, int, float, str)):
            bind(name, f"{name} = {_literal(v, name)}", f"const {v!r}", where)
        elif callable(v) and str(getattr(v, "__module__", "")).split(".")[0] == "triton":
            q = getattr(v, "__qualname__", getattr(v, "__name__", ""))
            if not q or "." in q or "<" in q:
                raise Uncapturable(f"{where}: global {name!r} ({type(v).__name__}) cannot be imported by name")
            line = f"from {v.__module__} import {q}" + (f" as {name}" if q != name else "")
            bind(name, line, f"from {v.__module__}.{q}", where)
        else:
            raise Uncapturable(f"{where}: global {name!r} of type {type(v).__name__} cannot be written as source")

    visit(fn)
    return "\n".join(header) + "\n\n" + "".join(c + "\n" for c in consts) + ("\n" if consts else "") \
        + "\n\n".join(funcs)


def _literal(v: Any, name: str) -> str:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return f"float({str(v)!r})"
    if v is None or isinstance(v, (bool, int, float, str)):
        return repr(v)
    raise Uncapturable(f"constexpr {name!r} holds a {type(v).__name__}")


# ---- arguments ------------------------------------------------------------------------------


def _is_constexpr(ann: Any) -> bool:
    import triton.language as tl

    return ann is tl.constexpr or (isinstance(ann, str) and "constexpr" in ann)


def _origin() -> str:
    """file:line of the innermost frame outside triton and this hook: the launching code."""
    here = os.path.abspath(__file__)
    f = sys._getframe(2)
    while f is not None:
        path = os.path.abspath(f.f_code.co_filename)
        parts = path.split(os.sep)
        if path != here and "triton" not in parts and not path.startswith("<"):
            return f"{path}:{f.f_lineno}"
        f = f.f_back
    return "?"


def _scalar(name: str, v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"name": name, "kind": "scalar", "dtype": "int1", "value": v}
    if isinstance(v, int):
        dt = "int32" if -(1 << 31) <= v < (1 << 31) else "int64" if -(1 << 63) <= v < (1 << 63) else "uint64"
        return {"name": name, "kind": "scalar", "dtype": dt, "value": v}
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise Uncapturable(f"scalar {name!r} is {v}")
        return {"name": name, "kind": "scalar", "dtype": "fp32", "value": v}
    raise Uncapturable(f"argument {name!r} of type {type(v).__name__} is not modelled")


def _span(t: Any) -> int:
    if t.numel() == 0:
        return 0
    if any(s < 0 for s in t.stride()):
        raise Uncapturable("a tensor argument with a negative stride")
    return 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))


def _bytes(t: Any, span: int) -> bytes:
    flat = t.detach().as_strided((span,), (1,))
    return flat.cpu().contiguous().view(-1).view(__import__("torch").uint8).numpy().tobytes()


def begin(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], grid: Any) -> dict[str, Any] | None:
    """Bind the launch, snapshot its tensors; None when an identical launch was recorded already."""
    import torch

    sig = inspect.signature(fn)
    params = sig.parameters
    bound = sig.bind(*args, **{k: v for k, v in kwargs.items() if k in params})
    bound.apply_defaults()
    values = dict(bound.arguments)
    g = grid(dict(values)) if callable(grid) else grid
    g = tuple(int(x) for x in (g if isinstance(g, (tuple, list)) else (g,)))
    g = (g + (1, 1, 1))[:3]
    source = kernel_source(fn)
    arg_recs: list[dict[str, Any]] = []
    sig_parts: list[Any] = []
    tensors: dict[str, tuple[Any, int]] = {}
    regions: list[tuple[int, int, str]] = []
    for name, p in params.items():
        v = values[name]
        if isinstance(v, torch.Tensor):
            dt = TORCH_DTYPES.get(str(v.dtype).replace("torch.", ""))
            if dt is None:
                raise Uncapturable(f"tensor {name!r} of dtype {v.dtype} is not modelled")
            span = _span(v)
            if span == 0:
                raise Uncapturable(f"tensor {name!r} is empty")
            start = v.data_ptr()
            buf = None
            for s0, _s1, bname in regions:  # the same storage start and dtype: one buffer
                if s0 == start and tensors[bname][0].dtype == v.dtype:
                    buf = bname
                    if span > tensors[bname][1]:
                        tensors[bname] = (v, span)
            if buf is None:
                buf = name
                tensors[buf] = (v, span)
                regions.append((start, start + span * v.element_size(), buf))
            arg_recs.append({"name": name, "kind": "ptr", "dtype": dt, "value": None, "buffer": buf})
            sig_parts.append(["ptr", dt, list(v.shape), list(v.stride()), buf])
        elif _is_constexpr(p.annotation) or v is None:
            import triton.language as tl

            cv = v.value if isinstance(v, tl.constexpr) else v
            if not (cv is None or isinstance(cv, (bool, int, float, str))):
                raise Uncapturable(f"constexpr {name!r} holds a {type(cv).__name__}")
            arg_recs.append({"name": name, "kind": "constexpr", "dtype": "", "value": cv, "buffer": None})
            sig_parts.append(["constexpr", repr(cv)])
        else:
            rec = _scalar(name, v)
            arg_recs.append(rec)
            sig_parts.append(["scalar", rec["dtype"]])
    # A kernel may take num_warps as its own constexpr too: the launch option is the same value.
    num_warps = int(kwargs.get("num_warps", 4) or 4)
    num_stages = kwargs.get("num_stages")
    key = hashlib.sha256(json.dumps([source, sig_parts, list(g), num_warps, num_stages]).encode()).hexdigest()[:16]
    with _lock:
        if key in _seen:
            return None
        _seen.add(key)
    total = sum(span * t.element_size() for t, span in tensors.values())
    if total > MAX_BYTES:
        raise Uncapturable(f"skipped a launch from {_origin()}: its tensors span {total / 2**20:.1f} MB, "
                           f"over the {MAX_BYTES / 2**20:.0f} MB cap (--max-mb)")
    # Views of one storage at different offsets become separate buffers: right while the kernel
    # only reads them, so a launch that writes one of them is dropped in finish().
    overlaps = [(an, bn) for i, (a0, a1, an) in enumerate(regions) for (b0, b1, bn) in regions[i + 1:]
                if a0 < b1 and b0 < a1]
    before = {n: _bytes(t, span) for n, (t, span) in tensors.items()}
    return {"key": key, "kernel_name": fn.__name__, "source": source, "args": arg_recs, "grid": list(g),
            "num_warps": num_warps, "num_stages": num_stages, "origin": _origin(),
            "shapes": {a["name"]: [list(values[a["name"]].shape), list(values[a["name"]].stride())]
                       for a in arg_recs if a["kind"] == "ptr"},
            "_tensors": tensors, "_before": before, "_overlaps": overlaps}


def finish(rec: dict[str, Any], error: str = "") -> None:
    """Record what the launch left in its tensors; `error`: the interpreter raised it instead."""
    tensors = rec.pop("_tensors")
    before = rec.pop("_before")
    rec["error"] = error[:2000]
    bufs = {}
    for n, (t, span) in tensors.items():
        after = _bytes(t, span) if not error else b""
        dt = TORCH_DTYPES[str(t.dtype).replace("torch.", "")]
        bufs[n] = {"dtype": dt, "before": base64.b64encode(before[n]).decode(),
                   "after": base64.b64encode(after).decode() if after and after != before[n] else None}
    for a, b in rec.pop("_overlaps") if not error else ():
        if bufs[a]["after"] or bufs[b]["after"]:
            raise Uncapturable(f"launch from {rec['origin']} writes through {a!r} or {b!r}, views of one "
                               "storage at different offsets (not modelled)")
    rec["buffers"] = bufs
    with _lock:
        _counter[0] += 1
        n = _counter[0]
    path = os.path.join(SPOOL, f"{rec['key']}-{os.getpid()}-{n}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, path)
