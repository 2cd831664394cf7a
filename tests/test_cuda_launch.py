"""The generic CUDA launcher's plan and argument packing, on kernels really compiled for sm_90.

No GPU here: the managed triton env compiles each kernel (tests/launch_probe.py) and the plan is
read from that compiled kernel's signature, metadata and PTX, exactly as on a GPU machine; only
the cuLaunchKernel call itself is left to the opt-in GPU tests.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess

import pytest

from backends.cuda_launch import LaunchPlan, NotLaunchable, Param, pack_args, ptx_param_sizes
from backends.envs import ensure_env
from backends.registry import resolve
from backends.worker import REPO_ROOT
from generators.case import Arg

PTX = """
.visible .entry k(
\t.param .u64 .ptr .global .align 1 k_param_0,
\t.param .u32 k_param_1,
\t.param .f32 k_param_2,
\t.param .u8 k_param_3,
\t.param .align 2 .b8 k_param_4[2],
\t.param .u64 .ptr .global .align 1 k_param_5
)
.reqntid 128
"""


def test_ptx_param_sizes() -> None:
    assert ptx_param_sizes(PTX, "k") == [8, 4, 4, 1, 2, 8]
    assert ptx_param_sizes(".entry e()\n{", "e") == []
    with pytest.raises(NotLaunchable, match="no PTX entry named 'other'"):
        ptx_param_sizes(PTX, "other")


def test_int_packing_checks_the_range() -> None:
    plan = LaunchPlan("k", b"", 4, 0, [Param("n", "int", 4, 0), Param("f", "int", 1, 1, False, 1)])
    _arr, keep = pack_args(plan, [-2, True])
    assert [bytes(c) for c in keep] == [struct.pack("<i", -2), b"\x01"]
    with pytest.raises(NotLaunchable, match="out of range"):
        pack_args(plan, [1 << 31, True])
    with pytest.raises(NotLaunchable, match="out of range"):
        pack_args(plan, [0, 2])
    with pytest.raises(NotLaunchable, match="not an int"):
        pack_args(plan, [1.5, True])


@pytest.fixture(scope="module")
def probe():
    py = str(ensure_env(resolve("cuda").env))

    def run(items: list[tuple[object, dict]]) -> list[dict]:
        payload = json.dumps([{"case": _plan_only(c.to_wire()), "options": o} for c, o in items])
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TRITON_DEFAULT_FP_FUSION": "1"}
        out = subprocess.run([py, str(REPO_ROOT / "tests" / "launch_probe.py")], input=payload,
                             capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout)

    return run


def _plan_only(wire: dict) -> dict:
    """The wire case without buffer contents (a plan needs only their dtypes)."""
    return {**wire, "buffers": {n: {"dtype": b["dtype"]} for n, b in wire["buffers"].items()}}


def test_plans_and_packs_compiled_kernels(probe, kernels) -> None:
    add = kernels.add_case(n=200, s=2.5)
    spec = kernels.unary_case(
        "y = tl.where(flag, x * stride + big.to(tl.float32), x)", extra_args="stride, big, flag",
        extra=[Arg("stride", "scalar", "int32", value=1), Arg("big", "scalar", "int64", value=-(1 << 40)),
               Arg("flag", "scalar", "int1", value=True)])
    half = kernels.unary_case("y = x * h", extra_args="h", extra=[Arg("h", "scalar", "fp16", value=0.5)])
    plain, special, fp16, cluster = probe([(add, {}), (spec, {}), (half, {}), (add, {"num_ctas": 2})])

    hidden = [["global_scratch", "hidden", 8, -1], ["profile_scratch", "hidden", 8, -1]]
    assert plain["plan"] == [["x_ptr", "ptr", 8, 0], ["y_ptr", "ptr", 8, 1], ["out_ptr", "ptr", 8, 2],
                             ["n", "int", 4, 3], ["s", "f32", 4, 4]] + hidden
    p = plain["ptrs"]
    assert plain["bytes"] == [struct.pack("<Q", p[n]).hex() for n in ("x_ptr", "y_ptr", "out_ptr")] + [
        struct.pack("<i", 200).hex(), struct.pack("<f", 2.5).hex(), "00" * 8, "00" * 8]
    assert plain["num_warps"] == 4 and plain["binary"] > 0

    # stride == 1 is specialised into the kernel, as Triton does, so it is not passed at all.
    assert [row[0] for row in special["plan"]] == ["x_ptr", "out_ptr", "n", "big", "flag",
                                                   "global_scratch", "profile_scratch"]
    assert special["bytes"][3:5] == [struct.pack("<q", -(1 << 40)).hex(), "01"]

    assert "'h' of type 'fp16'" in fp16["not_launchable"]
    assert "cluster launch (num_ctas=2)" in cluster["not_launchable"]
