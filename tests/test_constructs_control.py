"""Control flow and function constructs (if/elif/else, return, while, tuple assignment, jit helpers,
num_programs, constexpr locals, hints, assume): real interpreter output equals the reference, cuda
sm_90 compiles them, their type rules follow Triton's, and the reference's UB checks fire."""

from __future__ import annotations

import pytest

from generators import generate
from generators import spec as S
from generators.constructs import ALL
from generators.constructs.assume import assume
from generators.constructs.examples import make_case
from generators.constructs.hint import hint
from generators.constructs.if_stmt import if_
from generators.constructs.jitcall import jitcall
from generators.constructs.ret import ret
from generators.constructs.tuple_let import tlet
from generators.constructs.while_loop import while_
from generators.reduce import Reducer, size_of
from oracles.judge import judge
from oracles.reference import UndefinedBehaviour, evaluate

MINE = ["if", "ret", "while", "tlet", "jitcall", "nprog", "cxlet", "hint", "assume"]
# statement productions forced together, and the features each group must show in one kernel
PRODUCTIONS = {
    "guard_if,hints,fold_consts": ("if_else", "hint_max_contiguous", "py_number_local"),
    "loop_if,tuple_acc,for_to_while": ("if_in_loop", "loop_carried_tuple", "while_loop"),
    "strip_mine,outline,assume": ("loop_nested", "jit_helper", "assume"),
    "persistent,early_return,outline": ("num_programs", "early_return", "jit_noinline"),
}


def _forced(knobs: str, features: tuple[str, ...]) -> object:
    from backends.profiles import unsupported_reason

    w = {k: 20.0 for k in knobs.split(",")}
    for seed in range(400):
        case = generate(seed, w)
        # what both backends of the test run (e.g. no block pointers: triton 3.9 removed them)
        if any(unsupported_reason(b, list(case.features)) for b in ("interpreter@3.9.0", "cuda@3.9.0:sm_90")):
            continue
        if set(features) <= set(case.features):
            return case
    raise AssertionError(f"no kernel with {features} from {knobs}")


def _agree(backend, case) -> None:
    ref = evaluate(case)
    out = judge(case, ref, backend.run(case))
    assert out.kind == "ok", f"{out.kind}: {out.message}\n{case.source}"


@pytest.mark.parametrize("name", MINE)
def test_example_runs_on_the_interpreter_and_compiles_for_sm90(name: str, interp, cuda90) -> None:
    case = ALL[name].example()
    _agree(interp, case)
    _agree(cuda90, case)


@pytest.mark.parametrize("knobs", sorted(PRODUCTIONS))
def test_generated_kernels_run_and_compile(knobs: str, interp, cuda90) -> None:
    case = _forced(knobs, PRODUCTIONS[knobs])
    _agree(interp, case)
    _agree(cuda90, case)


# ---- reference semantics and UB ----
def _out(v: S.Expr) -> S.Stmt:
    return S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), v)


def _int_case(pre: list[S.Stmt], val: S.Expr | None = None, **kw: object) -> object:
    body = [S.let("offs", S.arange(16)), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))), *pre]
    if val is not None:
        body.append(_out(val))
    return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, **kw)


def test_only_the_taken_branch_runs() -> None:
    d = S.arg("d")
    dead = if_(S.bin_("!=", d, S.const(0, "int32")), [_out(S.bin_("//", S.var("x"), d))], [_out(S.var("x"))])
    ref = evaluate(_int_case([dead], scalars={"d": ("int32", 0)}))
    assert list(ref.values["o_ptr"]) == list(range(16))
    taken = if_(S.bin_("==", d, S.const(0, "int32")), [_out(S.bin_("//", S.var("x"), d))])
    with pytest.raises(UndefinedBehaviour, match="division by zero"):
        evaluate(_int_case([taken], scalars={"d": ("int32", 0)}))


def test_branch_scoping_follows_triton() -> None:
    one = S.const(1, "int32")
    both = if_(S.bin_(">", S.arg("n"), one), [S.let("y", S.var("x"))], [S.let("y", S.un("-", S.var("x")))])
    assert list(evaluate(_int_case([both], S.var("y"), scalars={"n": ("int32", 0)})).values["o_ptr"]) == \
        [-i for i in range(16)]
    only_then = if_(S.bin_(">", S.arg("n"), one), [S.let("y", S.var("x"))])
    with pytest.raises(S.SpecError, match="unbound variable y"):
        _int_case([only_then], S.var("y"), scalars={"n": ("int32", 0)})
    mismatch = if_(S.bin_(">", S.arg("n"), one), [S.let("y", S.var("x"))], [S.let("y", S.cast(S.var("x"), "fp32"))])
    with pytest.raises(S.SpecError, match="one branch"):
        _int_case([mismatch], scalars={"n": ("int32", 0)})
    with pytest.raises(S.SpecError, match="condition"):
        _int_case([if_(S.var("x"), [])])  # a tensor condition


def test_returns_and_loops() -> None:
    exit_ = if_(S.bin_("==", S.pid(0), S.const(1, "int32")), [ret()])
    offs = S.bin_("+", S.bin_("*", S.pid(0), S.const(8, "int32")), S.arange(8))
    body = [S.let("offs", offs), exit_, _out(S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))]
    ref = evaluate(make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, grid=(2, 1, 1)))
    assert list(ref.values["o_ptr"]) == list(range(8)) + [-7] * 8  # program 1 returned before its store
    loop = S.for_("i", S.const(0, "int32"), S.const(2, "int32"), [exit_])
    with pytest.raises(S.SpecError, match="not allowed inside a loop"):
        _int_case([loop])
    i = S.var("i")
    spin = while_(S.bin_(">=", i, S.const(0, "int32")), [S.let("i", S.bin_("+", i, S.const(1, "int32")))])
    with pytest.raises(UndefinedBehaviour, match="loop too long"):
        evaluate(_int_case([S.let("i", S.const(0, "int32")), spin]))
    with pytest.raises(S.SpecError, match="compile-time constant"):
        _int_case([while_(S.bin_("<", S.arg("N"), S.const(2, "int32")), [])], constexprs={"N": 1})


def test_tuple_assignment_reads_before_it_binds() -> None:
    a, b = S.var("a"), S.var("b")
    swap = S.for_("k", S.const(0, "int32"), S.const(3, "int32"), [tlet(["a", "b"], [b, S.bin_("+", a, b)])])
    case = _int_case([S.let("a", S.var("x")), S.let("b", S.full([16], 1, "int32")), swap], S.var("a"))
    # (x, 1) -> (1, x+1) -> (x+1, x+2) -> (x+2, 2x+3): a sequential a = b; b = a + b would differ
    assert list(evaluate(case).values["o_ptr"]) == [x + 2 for x in range(16)]


def test_helper_scope_and_noinline_rule() -> None:
    body = [ret(S.bin_("*", S.var("v"), S.arg("C")))]
    call = jitcall("h", ["v", "C"], [S.var("x"), S.const(3, "int32")], body)
    assert list(evaluate(_int_case([], call)).values["o_ptr"]) == [3 * i for i in range(16)]
    with pytest.raises(S.SpecError, match="noinline"):
        _int_case([], {**call, "noinline": True})  # a tensor argument
    early = jitcall("h", ["v", "s"], [S.var("x"), S.arg("s")],
                    [if_(S.bin_(">", S.var("s"), S.const(0, "int32")), [ret(S.un("-", S.var("v")))]), ret(S.var("v"))])
    assert list(evaluate(_int_case([], early, scalars={"s": ("int32", 1)})).values["o_ptr"]) == [-i for i in range(16)]
    mixed = jitcall("h", ["v", "s"], [S.var("x"), S.arg("s")],
                    [if_(S.bin_(">", S.var("s"), S.const(0, "int32")), [ret(S.var("v"))]),
                     ret(S.cast(S.var("v"), "fp32"))])
    with pytest.raises(S.SpecError, match="inconsistent return types"):
        _int_case([], mixed, scalars={"s": ("int32", 1)})


def test_constexpr_locals_fold_and_refuse_reassignment() -> None:
    half = {"s": "cxlet", "name": "HALF", "e": S.bin_("//", S.arg("B"), S.const(2, "int32")), "annot": True}
    offs = S.bin_("+", S.arange(16, "HALF"), S.const(8, "int32"))
    case = _int_case([half, S.let("o2", offs)], S.var("o2"), constexprs={"B": 32})
    assert list(evaluate(case).values["o_ptr"]) == [i + 8 for i in range(16)]
    assert "HALF: tl.constexpr = (B // 2)" in case.source and "tl.arange(0, HALF)" in case.source
    with pytest.raises(S.SpecError, match="not a fresh name"):
        _int_case([half, half], constexprs={"B": 32})
    neg = {"s": "cxlet", "name": "Q", "e": S.bin_("//", S.const(-3, "int32"), S.const(2, "int32")), "annot": True}
    with pytest.raises(S.SpecError, match="non-negative"):
        _int_case([neg])


def test_false_hints_and_assumptions_are_undefined() -> None:
    base = S.bin_("*", S.pid(0), S.const(8, "int32"))
    ok = hint("max_contiguous", S.bin_("+", hint("multiple_of", base, 8), S.arange(8)), 8)
    body = [S.let("offs", ok), _out(S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))]
    evaluate(make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, grid=(2, 1, 1)))
    for bad in (hint("multiple_of", S.bin_("+", base, S.const(4, "int32")), 8),
                hint("max_contiguous", S.bin_("*", S.arange(8), S.const(2, "int32")), 4)):
        with pytest.raises(UndefinedBehaviour, match="false hint"):
            evaluate(_int_case([S.let("h", bad)]))
    with pytest.raises(UndefinedBehaviour, match="false assumption"):
        evaluate(_int_case([assume(S.bin_(">", S.arg("n"), S.const(0, "int32")))], scalars={"n": ("int32", 0)}))


def test_reducer_flattens_control_flow() -> None:
    case = _forced("guard_if", ("if_else",))

    def interesting(c) -> bool:
        try:
            evaluate(c)
        except UndefinedBehaviour:
            return False
        return True

    small = Reducer(case, interesting, budget_s=30).run()
    assert size_of(small.spec)["statements"] < size_of(case.spec)["statements"]
    assert not any(n.get("s") == "if" for n in S.walk(small.spec["body"])), small.source

