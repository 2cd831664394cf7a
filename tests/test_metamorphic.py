"""Metamorphic and cross-backend oracles.

The no-false-alarm argument: every relation, applied to many generated kernels, yields a variant
whose reference (expected values and which elements are written) is exactly the base's; a test
that would fail on the first relation that changed what a kernel computes. Then the oracles on
real interpreter runs: the fault doubles fault-runtime-scale and fault-warps8 are caught by the
relation that tells their forms apart, a cross-backend vote blames fault-mask2d, and a
metamorphic finding reduces with its relation kept.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from backends.result import RunResult
from fuzz.pipeline import Pipeline
from generators import generate
from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.generator import case_from_spec
from generators.spec import SpecError
from oracles import metamorphic as M
from oracles.crossbackend import cross_backend
from oracles.reference import UndefinedBehaviour, evaluate

N_KERNELS = 40
PICKS = 2  # parameter choices per relation and kernel
# Every other kernel leans on the constructs some relations need (broadcasts, 2-D tiles, masks).
LEAN = {"bias_broadcast": 4.0, "broadcast_to": 4.0, "tile_2d": 3.0, "load_other": 3.0}


def test_every_relation_keeps_the_reference_on_generated_kernels() -> None:
    applied: Counter[str] = Counter()
    for seed in range(N_KERNELS):
        case = generate(7_000 + seed, LEAN if seed % 2 else None)
        try:
            ref = evaluate(case)
        except UndefinedBehaviour:
            continue
        _check_relations(case, ref, seed, applied)
        # broadcast_to is rare in generated kernels: also undo every explicit one (a round trip)
        explicit = M.RELATIONS["explicit-broadcast"].choose(case.spec, random.Random(seed))
        if explicit is not None:
            _check_relations(M.derive(case, M.Variant("explicit-broadcast", explicit)), ref, seed, applied,
                             only="implicit-broadcast")
    rare = {n: applied[n] for n in M.RELATIONS if applied[n] < 3}
    assert not rare, f"relations that (almost) never applied, so were not checked: {rare}"


def _check_relations(case: KernelCase, ref, seed: int, applied: Counter[str], only: str | None = None) -> None:
    """Every relation's variants of `case` have exactly `ref` as their reference."""
    for name, rel in M.RELATIONS.items():
        if only is not None and name != only:
            continue
        for pick in range(PICKS):
            params = rel.choose(case.spec, random.Random(seed * 31 + pick))
            if params is None:
                break
            v = M.Variant(name, params)
            try:
                var = M.derive(case, v)
            except (M.NotApplicable, SpecError):  # as the pipeline: an ill-typed form is not run
                continue
            assert M.Variant.from_json(v.to_json()) == v
            try:
                vref = evaluate(var)
            except UndefinedBehaviour as e:
                assert rel.needs_proof, f"seed {seed}: {v.label()} made the kernel undefined: {e}"
                continue
            for buf in case.outputs():
                assert np.array_equal(ref.values[buf], vref.values[buf]), (seed, v.label(), var.source)
                assert np.array_equal(ref.written[buf], vref.written[buf]), (seed, v.label())
                if name == "identity":  # x * 1.0 re-rounds in the reference's bookkeeping only
                    assert np.all(vref.errs[buf] >= ref.errs[buf]), (seed, v.label())
                else:
                    assert np.array_equal(ref.errs[buf], vref.errs[buf]), (seed, v.label())
            changed = (var.source != case.source or var.grid != case.grid or var.launch != case.launch
                       or var.num_warps != case.num_warps or [a.to_json() for a in var.args]
                       != [a.to_json() for a in case.args])
            assert changed, f"{v.label()} left seed {seed} as it was"
            applied[name] += 1


def test_variants_from_files_are_data_only() -> None:
    assert M.Variant.from_json({"relation": "num-warps", "params": {"num_warps": 8}}).params == {"num_warps": 8}
    for bad in ({"relation": "exec", "params": {}}, {"relation": "reorder", "params": {"seed": [1]}},
                {"relation": "reorder", "params": "x"}, ["reorder"]):
        with pytest.raises(ValueError):
            M.Variant.from_json(bad)


def test_launch_options_travel_with_the_case() -> None:
    cases = [generate(s) for s in range(3, 60)]
    case = next(c for c in cases if not c.launch)
    assert "launch" not in case.to_json()  # cases without launch options keep their ids
    again = KernelCase.from_json(case.to_json())
    assert again.case_id == case.case_id
    drawn = next(c for c in cases if c.launch)  # the generator draws maxnreg / num_stages itself
    assert KernelCase.from_json(drawn.to_json()).launch == drawn.launch
    assert set(drawn.launch) <= {"maxnreg", "num_stages"} and set(drawn.launch) <= set(drawn.features)
    var = M.derive(case, M.Variant("num-stages", {"num_stages": 2}))
    assert var.launch == {"num_stages": 2} and var.case_id != case.case_id
    assert KernelCase.from_json(var.to_json()).launch == {"num_stages": 2}
    bad = {**var.to_json(), "launch": {"num_stages": 2, "preload": "os.system"}}
    with pytest.raises(ValueError, match="unknown launch option"):
        KernelCase.from_json(bad)


def scale_case(how: str = "runtime", num_warps: int = 4) -> KernelCase:
    """out = x * alpha over 40 fp32 elements in blocks of 16 (a masked tail)."""
    alpha = S.arg("alpha") if how != "literal" else S.const(0.5, "fp32")
    params: list[dict] = [{"name": "x_ptr", "kind": "ptr", "dtype": "fp32"},
                          {"name": "out_ptr", "kind": "ptr", "dtype": "fp32"},
                          {"name": "n", "kind": "scalar", "dtype": "int32", "value": 40}]
    if how == "runtime":
        params.append({"name": "alpha", "kind": "scalar", "dtype": "fp32", "value": 0.5})
    elif how == "constexpr":
        params.append({"name": "alpha", "kind": "constexpr", "dtype": "", "value": 0.5})
    offs = S.bin_("+", S.bin_("*", S.var("pid"), S.const(16, "int32")), S.arange(16))
    body = [S.let("pid", S.pid(0)), S.let("offs", offs), S.let("m", S.bin_("<", S.var("offs"), S.arg("n"))),
            S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")), S.var("m"), S.const(0.0, "fp32"))),
            S.store(S.bin_("+", S.arg("out_ptr"), S.var("offs")), S.bin_("*", S.var("x"), alpha), S.var("m"))]
    spec = {"schema": S.SPEC_SCHEMA, "name": "kernel", "params": params, "grid": [3, 1, 1],
            "num_warps": num_warps, "body": body}
    args = [Arg(p["name"], p["kind"], p.get("dtype", ""), p.get("value"), p["name"] if p["kind"] == "ptr" else None)
            for p in params]
    bufs = {"x_ptr": Buffer("x_ptr", "fp32", "in", np.arange(40, dtype=np.float32) - 20),
            "out_ptr": Buffer("out_ptr", "fp32", "out", np.full(40, -7.5, dtype=np.float32))}
    return case_from_spec(spec, args, bufs, None)


def findings(run, origin: str) -> list:
    return [r for r in run.records if r.origin == origin and r.is_finding]


def test_runtime_scale_fault_is_caught_by_the_scalar_relations_alone() -> None:
    pipe = Pipeline(["fault-runtime-scale"], 30.0, reference=False)
    try:
        case = scale_case("runtime")
        run = pipe.run(case, variants=[M.Variant("scalar-to-constexpr", {"name": "alpha"})])
        hit = findings(run, "metamorphic")
        assert len(hit) == 1 and hit[0].kind == "metamorphic", run.records
        assert "scalar-to-constexpr" in hit[0].signature
        # forms the fault leaves alone (it only drops products with a runtime scalar) agree
        run = pipe.run(scale_case("constexpr"), variants=[M.Variant("scalar-to-literal", {"name": "alpha"})])
        assert not findings(run, "metamorphic"), run.records
        run = pipe.run(case, variants=[M.Variant("reorder", {"seed": 1}), M.Variant("num-warps", {"num_warps": 8})])
        assert not findings(run, "metamorphic"), run.records
        # a literal turned into a runtime argument breaks on it too
        run = pipe.run(scale_case("literal"),
                       variants=[M.Variant("literal-to-scalar", {"value": 0.5, "dt": "fp32", "to": "runtime"})])
        assert len(findings(run, "metamorphic")) == 1
        # the reduction keeps the relation and shrinks both forms together
        from fuzz.reduce import reduce_metamorphic
        from generators.reduce import size_of

        res = reduce_metamorphic(case, "fault-runtime-scale", hit[0].signature,
                                 [M.Variant("scalar-to-constexpr", {"name": "alpha"})], timeout=30.0,
                                 budget_s=60.0, reference=False)
        assert res.variant.relation == "scalar-to-constexpr"
        assert size_of(res.case.spec)["statements"] <= size_of(case.spec)["statements"]
        small_var = M.derive(res.case, res.variant)
        assert "alpha: tl.constexpr" in small_var.source and "alpha: tl.constexpr" not in res.case.source
    finally:
        pipe.close()


def test_warps8_fault_is_caught_by_the_num_warps_relation() -> None:
    pipe = Pipeline(["fault-warps8"], 30.0, reference=False)
    try:
        run = pipe.run(scale_case("runtime", num_warps=4), variants=[M.Variant("num-warps", {"num_warps": 8})])
        hit = findings(run, "metamorphic")
        assert len(hit) == 1 and "num-warps" in hit[0].signature, run.records
        run = pipe.run(scale_case("runtime", num_warps=4), variants=[M.Variant("num-warps", {"num_warps": 2})])
        assert not findings(run, "metamorphic")
        # with the reference on, the base form at num_warps 8 is the reference's own finding
        pipe.reference = True
        run = pipe.run(scale_case(num_warps=8), variants=[M.Variant("num-warps", {"num_warps": 4})])
        assert [r.kind for r in run.records if r.is_finding] == ["miscompile"], run.records
    finally:
        pipe.close()


def test_cross_backend_vote_blames_the_wrong_backend_without_a_reference(kernels) -> None:
    pipe = Pipeline(["interpreter", "fault-mask2d"], 30.0, reference=False)
    try:
        run = pipe.run(kernels.tile_case(causal=True))
        hit = findings(run, "cross")
        assert [r.backend for r in hit] == ["fault-mask2d@3.9.0"], run.records
        assert "vs:interpreter" in hit[0].signature
        run = pipe.run(kernels.tile_case(causal=False))  # rows alike: the double behaves
        assert not findings(run, "cross") and run.agreement["groups"] and len(run.agreement["groups"]) == 1
    finally:
        pipe.close()


def _result(name: str, case: KernelCase, out: np.ndarray) -> RunResult:
    from backends.runner_api import GUARD_ELEMS, padded_host_buffer

    outputs = {}
    for b, buf in case.buffers.items():
        host = padded_host_buffer({"dtype": buf.dtype, "size": buf.size, "data": buf.data.tobytes()})
        if buf.role == "out":
            host[GUARD_ELEMS:GUARD_ELEMS + buf.size] = out
        outputs[b] = host
    return RunResult(backend=name, status="ok", executed=True, outputs=outputs)


def test_votes_count_a_backend_family_once() -> None:
    """Three agreeing Ascend releases do not outvote the interpreter and cuda (DESIGN.md)."""
    case = scale_case("runtime")
    good = np.where(np.arange(40) < 40, (np.arange(40) - 20) * 0.5, -7.5).astype(np.float32)
    bad = good.copy()
    bad[3] += 1.0
    res = {"interpreter@3.9.0": _result("interpreter@3.9.0", case, good),
           "cuda@3.9.0:sm_90": _result("cuda@3.9.0:sm_90", case, good),
           **{f"ascend@{v}:Ascend910B3": _result(f"ascend@{v}:Ascend910B3", case, bad)
              for v in ("3.2.0", "3.2.0rc4", "3.2.0rc2")}}
    out, detail = cross_backend(case, None, res)
    assert sorted(o.backend for o in out) == sorted(n for n in res if n.startswith("ascend"))
    assert all("vs:cuda+interpreter" in o.signature for o in out)
    # cuda alone against ascend: a tie, which the interpreter breaks; without it, both are named
    two = {k: v for k, v in res.items() if not k.startswith("interpreter")}
    out, detail = cross_backend(case, None, two)
    assert detail["majority"] is None and len(out) == 4 and all("tie:" in o.signature for o in out)
    # with a reference, the reference outranks any vote: groups only
    out, detail = cross_backend(case, evaluate(case), res)
    assert out == [] and len(detail["groups"]) == 2


def test_weights_name_relations_and_generator_knobs_alike() -> None:
    import argparse

    from fuzz.cli import _split_weights, _weights, build_parser
    from fuzz.options import UsageError

    args = build_parser().parse_args(["fuzz", "--backends", "interpreter", "--weights",
                                      "scalar-to-constexpr=4,reorder=0,tail_block=2", "--no-reference",
                                      "--variants", "0"])
    assert args.no_reference and args.variants == 0
    gen, rel = _split_weights(_weights(args, relations=True))
    assert gen == {"tail_block": 2.0} and rel == {"scalar-to-constexpr": 4.0, "reorder": 0.0}
    case = generate(11)
    chosen = M.choose_variants(case, 3, {k: 0.0 for k in M.RELATIONS if k != "num-warps"}, {"cuda"})
    assert [v.relation for v in chosen] == ["num-warps"]
    with pytest.raises(UsageError, match="no-such-relation"):
        _weights(argparse.Namespace(weights="no-such-relation=1", exclude=None), relations=True)


def test_helper_function_leaves_module_functions_global() -> None:
    """A combine fn read by the moved expression stays a global of the helper: passed as an
    argument it would arrive as a constexpr, which tl.reduce refuses (a false metamorphic finding
    seen on an H200 campaign)."""
    import ast

    from backends.profiles import unsupported_reason

    case = next(c for c in map(generate, range(3000)) if "def _combine" in c.source and "tl.reduce(" in c.source
                and unsupported_reason("interpreter", list(c.features)) is None)
    module_fns = {n.name for n in ast.parse(case.source).body if isinstance(n, ast.FunctionDef)}
    reads_combine = 0
    for site in range(sum(1 for n in S.walk(case.spec["body"]) if n.get("s") == "let")):
        v = M.derive(case, M.Variant("helper-function", {"site": site}))
        tree = ast.parse(v.source)
        helper = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == M.HELPER)
        assert not {a.arg for a in helper.args.args} & module_fns, v.source
        if any(isinstance(n, ast.Name) and n.id.startswith("_combine") for n in ast.walk(helper)):
            reads_combine += 1
            pipe = Pipeline(["interpreter"], 60.0, variants=0)
            try:
                run = pipe.run(v)
            finally:
                pipe.close()
            assert [o.kind for o in run.outcomes] == ["ok"], [o.message[:300] for o in run.outcomes]
    assert reads_combine, "no site moved the tl.reduce: the test checks nothing"


def test_block_split_sees_reductions_inside_if_branches() -> None:
    """A reduction along the split axis inside an `if` changes with the block: block-split must
    refuse it (its proof once skipped `if` bodies; the pipeline's reference check caught the
    variant on a 3.9.0 campaign, case 557 of seed 81). Unseen statement kinds refuse the split."""
    from fuzz.pipeline import case_seed

    case = generate(case_seed(81, 557))
    assert any(s["s"] == "if" for s in case.spec["body"]) and "xor_sum(" in case.source, \
        "the generator changed: pick a kernel with an if-branch reduction along a program axis again"
    with pytest.raises(M.NotApplicable):
        M.derive(case, M.Variant("block-split", {"axis": 0}))
    split = 0
    for seed in range(300):  # where it still applies, the reference is unchanged
        c = generate(seed)
        if not M._split_axes(c.spec):
            continue
        v = M.derive(c, M.Variant("block-split", {"axis": M._split_axes(c.spec)[0]}))
        try:
            a, b = evaluate(c), evaluate(v)
        except UndefinedBehaviour:
            continue
        split += 1
        for k in a.values:
            assert np.array_equal(a.values[k], b.values[k]) and np.array_equal(a.written[k], b.written[k]), seed
    assert split >= 10, split
