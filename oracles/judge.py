"""Turn a backend's RunResult into an Outcome: kind, stage and dedup signature.

Kinds (DESIGN.md): ok, crash (the backend process died on a signal), internal-error (an
exception or assertion inside the compiler: Python errors in the frontend, MLIR verifier or pass
failures, "PLEASE submit a bug report"), rejects-valid (a clean diagnostic on a kernel the
reference accepts), miscompile, oob-write / oob-read (guard canaries or guard pages), timeout,
unsupported (outside the backend's profile or our own pipeline: never a finding).
"""

from __future__ import annotations

import re
import signal as _signal

from backends.result import RunResult
from generators.case import KernelCase
from oracles.compare import Divergence, compare_buffers, reference_free
from oracles.outcome import Outcome
from oracles.reference import Reference
from oracles.signature import make_signature

INTERNAL_EXC = ("AttributeError", "AssertionError", "KeyError", "IndexError", "TypeError", "NameError",
                "UnboundLocalError", "RecursionError", "ZeroDivisionError", "SystemError", "ValueError")
INTERNAL_TEXT = re.compile(r"PLEASE submit a bug report|Assertion .* failed|Stack dump|verif(y|ication|ier)"
                           r"|PassManager::run failed|LLVM ERROR|Internal Triton|internal compiler error"
                           r"|" + "|".join(INTERNAL_EXC))


# A frontend's own dtype/feature support check: a deliberate diagnostic (rejects-valid), even when
# raised as a ValueError/TypeError ("tt.sort only supports int8, ... but got int32").
SUPPORT_TEXT = re.compile(r"does not support \S+\. All support|only supports? .* but got|Expected dtype \[.*\] but got"
                          r"|is unsupported on Ascend|is not yet supported")


RUNTIME_FAULT = re.compile(r"CUDA error|misaligned address|illegal memory access|illegal instruction"
                           r"|unspecified launch failure|HIP error|hipError", re.I)


def family_of(backend: str) -> str:
    """`ascend@3.2.0rc4:Ascend910B3` -> `ascend`: signatures group releases of one backend."""
    return re.split(r"[@:]", backend, maxsplit=1)[0]


def signal_name(sig: int | None) -> str:
    if sig is None:
        return "exit"
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify_error(exc_type: str, text: str) -> str:
    """internal-error for compiler bugs that show as exceptions, rejects-valid for diagnostics."""
    if SUPPORT_TEXT.search(text or "") and not re.search(r"Assertion|Stack dump|LLVM ERROR", text or ""):
        return "rejects-valid"
    if exc_type in INTERNAL_EXC or INTERNAL_TEXT.search(text or ""):
        return "internal-error"
    return "rejects-valid"


_CAUSE_SPLIT = "The above exception was the direct cause of the following exception:"
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception))\b:?\s*(.*)$")
_FRAME_LINE = re.compile(r'File "([^"]+)", line \d+, in (\w+)')


def compilation_cause(traceback: str, message: str) -> tuple[str, str]:
    """(exception type, 'file:function: message') behind a Triton CompilationError, whose own
    line is only the source position ("at 4:29:"): the chained exception if there is one,
    else the text after the caret line. ("", "") when neither says more."""
    parts = (traceback or "").split(_CAUSE_SPLIT)
    for block in reversed(parts[:-1]):  # innermost cause last: skip CompilationErrors of helpers
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        exc = next((m for m in map(_EXC_LINE.match, reversed(lines)) if m), None)
        if exc is None:
            continue
        name = exc.group(1).rsplit(".", 1)[-1]
        if name == "CompilationError":
            message = "\n".join(lines[lines.index(exc.group(0)):])  # its caret text, if no deeper cause
            continue
        frames = _FRAME_LINE.findall(block)
        where = f"{frames[-1][0].rsplit('/', 1)[-1]}:{frames[-1][1]}: " if frames else ""
        return name, f"{where}{name}: {exc.group(2)}".rstrip(": ")
    lines = (message or "").splitlines()
    carets = [i for i, ln in enumerate(lines) if ln.strip() and set(ln.strip()) == {"^"}]
    if carets:
        rest = " ".join(ln.strip() for ln in lines[carets[-1] + 1:] if ln.strip())
        if rest:
            return "", rest
    return "", ""


def judge(case: KernelCase, ref: Reference | None, result: RunResult) -> Outcome:
    fam = family_of(result.backend)
    st = result.status
    text = "\n".join(x for x in (result.message, result.stderr_tail) if x)
    if st == "unsupported":
        return Outcome(result.backend, "unsupported", result.stage, result.message[:500])
    if st == "timeout" or result.stage in ("runtime-timeout", "adapter-timeout"):
        stage = result.stage or "run"
        return Outcome(result.backend, "timeout", stage, result.message[:500],
                       make_signature(fam, "timeout", stage))
    if st == "crash":
        stage = result.stage or "worker"
        sig = signal_name(result.signal)
        return Outcome(result.backend, "crash", stage, f"{sig}: {text[-2000:]}",
                       make_signature(fam, "crash", stage, text, sig),
                       {"signal": result.signal, "exit_code": result.exit_code})
    if st == "error":
        stage = result.stage or "compile"
        if stage == "adapter-crash" or stage.endswith("-crash"):  # a compiler tool died of a signal
            kind = "crash"
        elif stage in ("run", "launch") and RUNTIME_FAULT.search(text):
            kind = "crash"  # compiled fine, then faulted on the device: not a diagnostic
        elif stage == "runtime-fault":
            kind = "oob-read" if re.search(r"\bread\b", text) else "oob-write" if "guard" in text else "crash"
        else:
            kind = classify_error(result.exc_type, text)
        head = f"{result.exc_type}: {text}" if result.exc_type else text
        sig_text = head
        if result.exc_type == "CompilationError":  # its own line is a source position only
            cause_exc, cause = compilation_cause(result.traceback, result.message)
            if cause_exc in INTERNAL_EXC and kind not in ("crash", "oob-read", "oob-write") \
                    and not SUPPORT_TEXT.search(cause):
                kind = "internal-error"  # a frontend assert or TypeError behind the position
            if cause:
                sig_text = f"CompilationError: {cause}"
        return Outcome(result.backend, kind, stage, head[:4000], make_signature(fam, kind, stage, sig_text),
                       {"exc_type": result.exc_type})
    if not result.executed:
        return Outcome(result.backend, "ok", "compile")
    # Without a reference only what needs none is judged here (canaries, inputs); values are
    # left to the cross-backend and metamorphic oracles.
    divs = compare_buffers(case, ref, result.outputs) if ref is not None else reference_free(case, result.outputs)
    if not divs:
        return Outcome(result.backend, "ok", "run")
    return divergence_outcome(result.backend, case, divs)


def divergence_outcome(backend: str, case: KernelCase, divs: list[Divergence]) -> Outcome:
    oob = [d for d in divs if d.kind == "oob-write"]
    first = oob[0] if oob else divs[0]
    kind = first.kind
    dtype = case.buffers[first.buffer].dtype
    msg = "; ".join(f"{d.buffer}: {d.pattern} ({d.count}/{d.total})" for d in divs)
    return Outcome(backend, kind, "run", msg,
                   make_signature(family_of(backend), kind, "run", extra=f"{first.pattern}:{dtype_class(dtype)}"),
                   {"divergences": [d.to_json() for d in divs]})


def dtype_class(dtype: str) -> str:
    """Miscompile signatures split floats from integers, not every dtype: one bug, one finding."""
    return "float" if dtype in ("fp32", "fp16", "bf16", "fp64") else "int"


def cross_check(case: KernelCase, results: dict[str, RunResult], ref: Reference | None = None) -> list[Outcome]:
    """Backends whose outputs the others outvote (see oracles.crossbackend); kept for callers."""
    from oracles.crossbackend import cross_backend

    return cross_backend(case, ref, results)[0]
