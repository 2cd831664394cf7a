"""Each fault-injection backend injects exactly its documented defect, and nothing on other cases.

The fault backends are the interpreter with one defect (backends/faults.py); these tests pin the
defects down so that oracle tests built on them prove what they claim.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from backends import open_backend
from backends.faults import SLOW_S, drop_scalar_mul


@pytest.fixture(scope="module")
def faulty():
    names = ["fault-drop-scalar-mul", "fault-mask2d", "fault-segfault", "fault-hang", "fault-oob-store"]
    bs = {n: open_backend(n) for n in names}
    yield bs
    for b in bs.values():
        b.close()


def test_clean_case_is_untouched_by_every_fault(faulty, interp, kernels) -> None:
    """A kernel without the trigger (no block×scalar, 2-D mask, //, for) runs as on the interpreter."""
    case = kernels.unary_case("y = x + 1.0")
    want = interp.run(case)
    for name, b in faulty.items():
        r = b.run(case, timeout=30)
        assert r.status == "ok", (name, r.status, r.message)
        np.testing.assert_array_equal(kernels.data(r, "out"), kernels.data(want, "out"))
        assert r.versions["fault"] == name.removeprefix("fault-")


def test_drop_scalar_mul(faulty, interp, kernels) -> None:
    case = kernels.add_case(n=200, s=3.0)
    good = kernels.data(interp.run(case), "out")
    r = faulty["fault-drop-scalar-mul"].run(case)
    x = np.arange(200, dtype=np.float32)
    np.testing.assert_array_equal(good, x * 3 + 1)
    np.testing.assert_array_equal(kernels.data(r, "out"), x + 1)  # the scale is lost...
    assert kernels.guards_intact(r, "out")  # ...but addressing (pid * BLOCK) is intact


def test_drop_scalar_mul_rewrites_only_scalar_params(kernels) -> None:
    import ast

    src = kernels.HEADER + (
        "@triton.jit\n"
        "def k(p, s, C: tl.constexpr):\n"
        "    acc = tl.load(p + tl.arange(0, C))\n"
        "    acc *= s\n"
        "    t = C * acc + acc * acc\n"
    )
    out = drop_scalar_mul(ast.parse(src), "k", {"s", "C"})
    assert "acc = _tritondiff_fault_mul(acc, s)" in out
    assert "_tritondiff_fault_mul(acc, C)" in out and "acc * acc" in out


def test_mask2d_drops_last_row_of_row_varying_masks(faulty, interp, kernels) -> None:
    causal = kernels.tile_case(causal=True)
    good = kernels.data(interp.run(causal), "out").reshape(4, 4)
    bad = kernels.data(faulty["fault-mask2d"].run(causal), "out").reshape(4, 4)
    np.testing.assert_array_equal(bad[:3], good[:3])
    assert (good[3] == np.arange(12, 16) + 1).all()
    assert (bad[3] == -1).all()  # the last row's lanes were dropped from load and store
    # rows that are all alike (bounds-only mask on a full tile) are left alone
    plain = kernels.tile_case(causal=False)
    np.testing.assert_array_equal(kernels.data(faulty["fault-mask2d"].run(plain), "out"),
                                  kernels.data(interp.run(plain), "out"))


def test_segfault_on_floor_division(faulty, kernels) -> None:
    b = faulty["fault-segfault"]
    r = b.run(kernels.unary_case("y = x // 2", in_dtype="int32", out_dtype="int32"))
    assert (r.status, r.signal, r.stage) == ("crash", signal.SIGSEGV, "compile")
    assert "Segmentation fault" in r.stderr_tail  # faulthandler's report reaches the result
    assert b.run(kernels.unary_case("y = x * 2", in_dtype="int32", out_dtype="int32")).status == "ok"


def test_hang_on_for_loop(faulty, kernels) -> None:
    b = faulty["fault-hang"]
    loop = "y = x\nfor i in range(2):\n    y = y + 1.0\n"
    r = b.run(kernels.unary_case(loop), timeout=3)
    assert (r.status, r.stage) == ("timeout", "compile")
    assert b.run(kernels.unary_case("y = x + 1.0")).status == "ok"


def test_oob_store_writes_one_past_the_tail(faulty, interp, kernels) -> None:
    case = kernels.add_case(n=200, block=128)  # program 1 stores 72 of 128 lanes
    good = interp.run(case)
    bad = faulty["fault-oob-store"].run(case)
    np.testing.assert_array_equal(kernels.data(bad, "out"), kernels.data(good, "out"))
    assert kernels.guards_intact(good, "out") and not kernels.guards_intact(bad, "out")
    first_guard_after = bad.outputs["out"][64 + 200]
    assert first_guard_after == kernels.data(good, "out")[-1]  # the last stored value, once more
    # a store whose mask is all True is left alone
    full = kernels.add_case(n=256, block=128)
    assert kernels.guards_intact(faulty["fault-oob-store"].run(full), "out")


def test_a_campaign_confirms_a_timeout_before_calling_it_a_finding(kernels) -> None:
    """A host too loaded to compile within the timeout is not a hang: a campaign's pipeline runs a
    timed-out case once more with CONFIRM_FACTOR times the time, and only a second timeout counts
    (seen: two cuda@3.2.0 compile "timeouts" on a host running four campaigns at once)."""
    from fuzz.pipeline import CONFIRM_FACTOR, Pipeline

    assert 2.0 < SLOW_S < 2.0 * CONFIRM_FACTOR - 1.0
    case = kernels.unary_case("y = x\nfor i in range(2):\n    y = y + 1.0\n")
    kinds = {}
    for name, confirm in (("fault-slow", False), ("fault-slow", True), ("fault-hang", True)):
        pipe = Pipeline([name], 2.0, variants=0, reference=False, confirm_timeouts=confirm)
        try:
            pipe.warm()
            kinds[(name, confirm)] = [o.kind for o in pipe.run(case).outcomes]
        finally:
            pipe.close()
    assert kinds[("fault-slow", False)] == ["timeout"]  # what an unconfirmed campaign reported
    assert kinds[("fault-slow", True)] == ["ok"]  # slow, then right: not a finding
    assert kinds[("fault-hang", True)] == ["timeout"]  # a real hang still is one
