"""Signatures: one bug is one finding, and two bugs behind one wrapper line are two findings."""

from __future__ import annotations

from oracles.signature import make_signature

PTXAS = """PTXASError: PTXAS error: Internal Triton PTX codegen error
`ptxas` stderr:
ptxas-blackwell /tmp/tmpinei895k.ptx, line {line}; error : Modifier '.volatile' cannot be combined with modifier '{mod}'
ptxas-blackwell fatal   : Ptx assembly aborted due to errors
Repro command: /root/x/bin/ptxas-blackwell -lineinfo --gpu-name=sm_90a /tmp/tmp{tmp}.ptx"""


def test_ptxas_rejections_are_told_apart_by_ptxas_own_line() -> None:
    a = make_signature("cuda", "internal-error", "compile", PTXAS.format(line=49, mod=".ca", tmp="abcdef12"))
    again = make_signature("cuda", "internal-error", "compile", PTXAS.format(line=71, mod=".ca", tmp="zz99yy88"))
    other = make_signature("cuda", "internal-error", "compile", PTXAS.format(line=49, mod=".cg", tmp="abcdef12"))
    assert a == again  # line numbers and temp files do not split one bug
    assert a != other and "Modifier '.volatile' cannot be combined" in a


def test_ptxas_detail_also_behind_the_older_releases_colon() -> None:
    """triton 3.0 and 3.1 word the wrapper 'RuntimeError: Internal Triton PTX codegen error:'."""
    wrapper = "Internal Triton PTX codegen error"
    old = PTXAS.format(line=49, mod=".ca", tmp="abcdef12").replace(f"PTXASError: PTXAS error: {wrapper}",
                                                                   f"RuntimeError: {wrapper}:")
    assert "Modifier '.volatile' cannot be combined" in make_signature("cuda", "internal-error", "compile", old)


def test_mlir_diagnostics_keep_their_head_line() -> None:
    text = "kernel.py:11:0: error: 'tt.load' op operand #0 must be ptr\nnote: see current operation"
    assert make_signature("cuda", "internal-error", "ttir", text) == \
        "cuda|internal-error|ttir|kernel.py:?:?: error: 'tt.load' op operand #N must be ptr|"


def test_adapter_rejections_are_told_apart_by_the_mlir_error() -> None:
    def adapter(msg: str, tmp: str) -> str:
        return (f"CalledProcessError: triton-adapter-opt exited 1\n/tmp/tritondiff-ascend-src-{tmp}/tdk_0123.py:6:0: "
                f"error: {msg}\n/tmp/x/tdk_0123.py:6:0: note: see current operation")
    ret = "'func.return' op has 1 operands, but enclosing function (@kernel) returns 0"
    a = make_signature("ascend", "rejects-valid", "adapter-error", adapter(ret, "nfplimri"))
    assert a == make_signature("ascend", "rejects-valid", "adapter-error", adapter(ret, "q8x1z0aa"))
    scan = "reverse=True is not yet supported for scan op"
    assert a != make_signature("ascend", "rejects-valid", "adapter-error", adapter(scan, "nfplimri"))
    assert "'func.return' op has N operands" in a


def test_a_compilation_error_is_named_by_its_innermost_cause() -> None:
    from oracles.judge import compilation_cause

    chained = ('  File "/e/triton/language/core.py", line 279, in __le__\n'
               "TypeError: '<=' not supported between instances of 'int' and 'NoneType'\n\n"
               "The above exception was the direct cause of the following exception:\n\n"
               "triton.compiler.errors.CompilationError: at 10:23:\ndef flip(x, dim=None):\n    ^\n"
               "'<=' not supported\n\n"
               "The above exception was the direct cause of the following exception:\n\n"
               "Traceback (most recent call last):\ntriton.compiler.errors.CompilationError: at 2:8:\n")
    assert compilation_cause(chained, "at 2:8:\n    t = tl.flip(x)\n        ^") == \
        ("TypeError", "core.py:__le__: TypeError: '<=' not supported between instances of 'int' and 'NoneType'")
    plain = "at 3:4:\n    tl.store(p, x)\n    ^\nValueError('Unsupported ptr type <[16], int32> in `tl.store`')"
    assert compilation_cause("", plain) == ("", "ValueError('Unsupported ptr type <[16], int32> in `tl.store`')")
    assert compilation_cause("", "at 3:4:\n    x\n    ^") == ("", "")


def test_a_frontend_support_check_is_a_diagnostic_not_an_internal_error() -> None:
    from oracles.judge import classify_error

    assert classify_error("CompilationError", "TypeError: tt.sort only supports int8, int16, bfloat16, "
                          "float16, float32, but got <[16], int32>") == "rejects-valid"
    assert classify_error("CompilationError", "ValueError: atomic_min does not support int64. All support dtypes "
                          "are int8, int16, int32") == "rejects-valid"
    assert classify_error("TypeError", "TypeError: '<=' not supported between instances of 'int' and 'NoneType'") \
        == "internal-error"


def test_a_frontend_diagnostic_is_one_finding_whatever_dtype_and_shape_the_case_had() -> None:
    def cast(dt: str, shape: str) -> str:
        return make_signature("ascend", "internal-error", "frontend",
                              f"CompilationError: AssertionError('cannot cast {dt}{shape} to <[16, 8], {dt}>')")
    assert cast("fp32", "[constexpr[16], constexpr[8]]") == cast("int64", "[constexpr[4], constexpr[2]]")
    umulhi = "ValueError: Expected dtype ['int32'] but got {}"
    assert make_signature("ascend", "rejects-valid", "frontend", umulhi.format("uint32")) == \
        make_signature("ascend", "rejects-valid", "frontend", umulhi.format("uint64"))
    assert "['int32']" in make_signature("ascend", "rejects-valid", "frontend", umulhi.format("uint32"))


def test_mlir_types_in_a_diagnostic_do_not_split_one_bug() -> None:
    def legalize(src: str, dst: str) -> str:
        return make_signature("ascend", "rejects-valid", "adapter-error",
                              "CalledProcessError: triton-adapter-opt exited 1\nk.py:3:0: error: failed to legalize "
                              f"unresolved materialization from ('{src}') to '{dst}' that remained live")
    assert legalize("memref<4x16xi64, strided<[4, 1], offset: ?>>", "tensor<?x!tt.ptr<i64>>") == \
        legalize("memref<32xf32>", "tensor<?xf32>")


def test_pass_manager_failures_carry_the_compilers_own_line() -> None:
    """`PassManager::run failed` alone merged distinct bugs; a worker reads the MLIR error its
    compile printed on fd 2 (its log) back into the message, so two bugs are two signatures."""
    from pathlib import Path

    from backends.backend import open_backend
    from fuzz.corpus import load_file

    root = Path(__file__).resolve().parents[1] / "corpus"
    fneg = load_file(root / "22e4225840844206.json").case  # fp8 negation: 'llvm.fneg' operand type
    ret = load_file(root / "189e32ec451f6e9c.json").case  # a noinline helper's 'tt.call' result type
    with open_backend("cuda@3.9.0") as b:
        a, c = b.run(fneg, 120.0), b.run(ret, 120.0)
    assert a.status == c.status == "error" and "PassManager::run failed" in a.message
    sa = make_signature("cuda", "internal-error", a.stage, a.message)
    sc = make_signature("cuda", "internal-error", c.stage, c.message)
    assert "'llvm.fneg' op operand" in sa and "'tt.call' op result type mismatch" in sc, (sa, sc)


def test_diagnostics_read_both_location_formats() -> None:
    """triton <= 3.2 prints `loc("f.py":7:12): error: ...`, later releases `f.py:7:12: error: ...`."""
    from backends.triton_compile import diagnostics

    msg = "error: type of return operand 0 ('tensor<2xi32>') doesn't match function result type"
    old = f'loc("/tmp/k.py":7:12): {msg}\n'
    new = (f"/tmp/k.py:7:12: {msg}\n/tmp/k.py:9:0: error: Failures have been detected while processing an MLIR"
           " pass pipeline\n/tmp/k.py:9:0: note: Pipeline failed while executing [`ConvertTritonToTritonGPU` on "
           "'builtin.module' operation]: reproducer generated at `std::errs`")
    assert diagnostics(old) == [msg]
    assert diagnostics(new)[:2] == [msg, "error: pass ConvertTritonToTritonGPU failed"]


def test_mangled_helper_names_do_not_split_one_bug() -> None:
    """Triton mangles a jit helper's argument types into its name: one adapter bug, many names."""
    def call(name: str) -> str:
        return make_signature("ascend", "rejects-valid", "adapter-error",
                              f"CalledProcessError: triton-adapter-opt exited 1\nk.py:3:4: error: 'tt.call' op "
                              f"'{name}' does not reference a valid function")
    assert call("helper_1_256719455__i32__") == call("helper_093__i32_i32__1cconstexpr_96_") == \
        call("helper_6__0cconstexpr_0__1cconstexpr_17_")
