"""The shared linalg executor on hand-written linalg (no triton): the in-process engine against
the tools pipeline, cross-release reuse through the disk cache, and our failures kept ours."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from backends.ascend.cli import buffer
from backends.linalg_exec import build, cache, calling, client, legalize, normalize
from backends.linalg_exec.convention import Param
from backends.runner_api import GUARD_ELEMS, StageError, Unsupported
from tests.test_ascend_legalize import TWO_SITES

# A 1-D kernel shaped like adapter output; OFFSET moves the store (past the end when 8).
STORE = """module {
  func.func @k(%arg0: memref<?xi8>, %arg1: memref<?xi8>, %arg2: memref<?xf32> {tt.divisibility = 16 : i32},
               %arg3: memref<?xf32> {tt.divisibility = 16 : i32, tt.tensor_kind = 1 : i32}, %arg4: f32,
               %arg5: i32, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32, %arg10: i32)
               attributes {SyncBlockLockArgIdx = 0 : i64, WorkspaceArgIdx = 1 : i64, mix_mode = "aiv"} {
    %c0 = arith.constant 0 : index loc(#loc1)
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %off = arith.constant OFFSET : index
    scf.for %i = %c0 to %c8 step %c1 {
      %x = memref.load %arg2[%i] : memref<?xf32>
      %y = arith.mulf %x, %arg4 : f32
      %j = arith.addi %i, %off : index
      memref.store %y, %arg3[%j] : memref<?xf32>
    }
    return loc(#loc2)
  }
}
#loc1 = loc("k.py":3:0)
#loc2 = loc("k.py":9:0)
"""


@pytest.fixture(scope="module", autouse=True)
def engine_built() -> None:
    """The engine is part of set-up (`tritondiff setup --system`); built here if it is not yet."""
    build.engine_library()


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITONDIFF_EXEC_CACHE", str(tmp_path))
    return tmp_path


def _store_case(offset: int, scale: float = 3.0) -> tuple[str, object, dict]:
    leg = legalize.legalize(STORE.replace("OFFSET", str(offset)))
    conv = calling.build(leg.text, leg.kernel, [Param("x", "ptr", "fp32", "x"), Param("o", "ptr", "fp32", "o"),
                                                Param("s", "scalar", "fp32", value=scale)])
    bufs = {"x": buffer("fp32", np.arange(8)), "o": buffer("fp32", np.zeros(8), "out")}
    return leg.text, conv, bufs


def _data(out: dict, name: str, n: int) -> np.ndarray:
    return np.frombuffer(out[name], np.float32)[GUARD_ELEMS:GUARD_ELEMS + n]


def test_normalize_ignores_names_locations_and_npu_hints_only() -> None:
    a = STORE.replace("OFFSET", "0")
    renamed = a.replace("%x", "%val").replace("%arg4", "%scale").replace("%arg4", "%scale")
    hinted = renamed.replace('mix_mode = "aiv"', 'mix_mode = "aic", parallel_mode = "simd"').replace(
        " {tt.divisibility = 16 : i32}", "").replace(" loc(#loc1)", "")
    assert normalize.normalize(a) == normalize.normalize(hinted)
    assert normalize.key(a, 0) == normalize.key(hinted, 0) != normalize.key(a, 1)
    assert normalize.normalize(a) != normalize.normalize(STORE.replace("OFFSET", "1"))
    assert normalize.normalize(a) != normalize.normalize(a.replace("arith.mulf", "arith.addf"))
    # renaming is consistent: swapping two arguments everywhere is the same program, swapping
    # only their uses (load from the output, store to the input) is another one
    everywhere = a.replace("%arg2", "%tmp").replace("%arg3", "%arg2").replace("%tmp", "%arg3")
    assert normalize.normalize(a) == normalize.normalize(everywhere)
    uses = a.replace("load %arg2", "load %arg3").replace("%y, %arg3", "%y, %arg2")
    assert normalize.normalize(a) != normalize.normalize(uses)
    assert '"k.py"' not in normalize.normalize(a) and "loc(" not in normalize.normalize(a)


@pytest.mark.parametrize("offset", [0, 8])
def test_engine_matches_tools_pipeline(fresh_cache, offset: int) -> None:
    text, conv, bufs = _store_case(offset)
    got = {}
    for mode in ("tools", "engine"):
        try:
            got[mode] = client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering=mode, reuse=False)
        except StageError as e:
            got[mode] = e
    t, e = got["tools"], got["engine"]
    if offset == 0:
        assert isinstance(t, client.Outcome) and isinstance(e, client.Outcome)
        np.testing.assert_array_equal(_data(e.outputs, "o", 8), np.arange(8) * 3.0)
        assert t.outputs == e.outputs and t.lowered == e.lowered
        assert e.mode == "engine" and t.mode == "tools" and len(e.obj_sha) == 64
    else:  # the first store past the end hits the guard page, in both pipelines alike
        assert isinstance(t, StageError) and isinstance(e, StageError)
        assert t.stage == e.stage == "runtime-fault"
        assert "0 bytes past the end of buffer 'o'" in e.message
        assert t.message.split(";")[0] == e.message.split(";")[0]


def test_scans_and_poison_agree_between_pipelines(fresh_cache) -> None:
    leg = legalize.legalize(TWO_SITES)
    conv = calling.build(leg.text, leg.kernel, [Param("x", "ptr", "fp32", "x"), Param("a", "ptr", "fp32", "a"),
                                                Param("b", "ptr", "fp32", "b")])
    x = np.random.default_rng(5).integers(-8, 8, (4, 8)).astype(np.float32)
    bufs = {"x": buffer("fp32", x), "a": buffer("fp32", np.zeros(32), "out"),
            "b": buffer("fp32", np.zeros(32), "out")}
    t = client.lower_and_run(leg.text, conv, bufs, (2, 1, 1), lowering="tools", reuse=False)
    e = client.lower_and_run(leg.text, conv, bufs, (2, 1, 1), lowering="engine", reuse=False)
    assert t.outputs == e.outputs and t.lowered == e.lowered
    np.testing.assert_array_equal(_data(e.outputs, "a", 32).reshape(4, 8), np.cumsum(x, 0))


def test_second_release_reuses_lowering_and_execution(fresh_cache) -> None:
    text, conv, bufs = _store_case(0)
    first = client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering="engine")
    assert not first.reused and first.lower_from in ("lowered", "memory")  # earlier tests share the service
    other = text.replace("%x", "%loaded").replace(', mix_mode = "aiv"', ', parallel_mode = "simd"')
    again = client.lower_and_run(other, conv, bufs, (1, 1, 1), lowering="engine")
    assert again.reused and again.outputs == first.outputs and again.key == first.key
    assert again.saved_s > 0 and again.obj_sha == first.obj_sha
    fresh = client.lower_and_run(other, conv, bufs, (1, 1, 1), lowering="engine", fresh=True)
    assert fresh.obj_sha == first.obj_sha and not fresh.reused  # the reuse was sound
    # other inputs are another execution (same lowering, from the engine's memory)
    bufs2 = {**bufs, "x": buffer("fp32", np.ones(8))}
    third = client.lower_and_run(other, conv, bufs2, (1, 1, 1), lowering="engine")
    assert not third.reused and third.lower_from == "memory"
    np.testing.assert_array_equal(_data(third.outputs, "o", 8), np.full(8, 3.0))
    assert len(list((fresh_cache / "runs").iterdir())) == 2


def test_kernel_fault_is_reused_as_the_same_fault(fresh_cache) -> None:
    text, conv, bufs = _store_case(8)
    with pytest.raises(StageError) as first:
        client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering="engine")
    with pytest.raises(StageError) as again:
        client.lower_and_run(text.replace("%y", "%prod"), conv, bufs, (1, 1, 1), lowering="engine")
    assert again.value.stage == "runtime-fault" and again.value.message == first.value.message
    assert "identical linalg" in again.value.artifacts["reused"]


def test_our_lowering_failure_is_unsupported_and_the_service_goes_on(fresh_cache) -> None:
    text, conv, bufs = _store_case(0)
    with pytest.raises(Unsupported, match=r"our lowering failed at mlir-opt \(parse\)"):
        client.lower_and_run(text.replace("arith.mulf", "arith.mulff"), conv, bufs, (1, 1, 1),
                             lowering="engine")
    assert cache.load_lowered(client.lowering_key(text.replace("arith.mulf", "arith.mulff"), 0, True))[0] == "error"
    ok = client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering="engine")
    np.testing.assert_array_equal(_data(ok.outputs, "o", 8), np.arange(8) * 3.0)


def test_a_killed_engine_is_restarted_for_the_next_case(fresh_cache) -> None:
    text, conv, bufs = _store_case(0)
    client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering="engine", reuse=False)
    svc = client._svc().worker
    os.kill(svc.pid, signal.SIGKILL)
    svc.proc.wait()
    out = client.lower_and_run(text, conv, bufs, (1, 1, 1), lowering="engine", reuse=False)
    assert client._svc().worker.pid != svc.pid
    np.testing.assert_array_equal(_data(out.outputs, "o", 8), np.arange(8) * 3.0)


def test_auto_is_the_engine_once_built_and_tools_is_selectable(monkeypatch) -> None:
    assert client.pick_mode("auto") == "engine"
    monkeypatch.setenv("TRITONDIFF_LOWERING", "tools")
    assert client.pick_mode(None) == "tools"
    with pytest.raises(ValueError, match="lowering must be one of"):
        client.pick_mode("fast")


def test_cache_prune_keeps_the_newest(fresh_cache) -> None:
    for i in range(10):
        cache.store_lowering_error(f"k{i:02d}", "x")
        os.utime(fresh_cache / "lowered" / f"k{i:02d}", (1_000_000 + i, 1_000_000 + i))
    assert cache.prune("lowered", limit=4) == 8
    assert sorted(p.name for p in (fresh_cache / "lowered").iterdir()) == ["k08", "k09"]


# triton-shared style (what spine-triton-opt and triton-shared-opt emit): unranked pointers, no
# leading workspace arguments, grid and program id last.
UNRANKED = """module {
  func.func @k(%arg0: memref<*xf32> {tt.divisibility = 16 : i32}, %arg1: memref<*xf32>, %arg2: f32,
               %arg3: i32, %arg4: i32, %arg5: i32, %arg6: i32, %arg7: i32, %arg8: i32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %pid = arith.index_cast %arg6 : i32 to index
    %base = arith.muli %pid, %c4 : index
    %in = memref.reinterpret_cast %arg0 to offset: [%base], sizes: [4], strides: [1]
        : memref<*xf32> to memref<4xf32, strided<[1], offset: ?>>
    %out = memref.reinterpret_cast %arg1 to offset: [%base], sizes: [4], strides: [1]
        : memref<*xf32> to memref<4xf32, strided<[1], offset: ?>>
    scf.for %i = %c0 to %c4 step %c1 {
      %x = memref.load %in[%i] : memref<4xf32, strided<[1], offset: ?>>
      %y = arith.addf %x, %arg2 : f32
      memref.store %y, %out[%i] : memref<4xf32, strided<[1], offset: ?>>
    }
    return
  }
}
"""


@pytest.mark.parametrize("mode", ["tools", "engine"])
def test_unranked_pointer_convention_of_triton_shared_tools(fresh_cache, mode: str) -> None:
    leg = legalize.legalize(UNRANKED)
    conv = calling.build(leg.text, leg.kernel, [Param("x", "ptr", "fp32", "x"), Param("o", "ptr", "fp32", "o"),
                                                Param("s", "scalar", "fp32", value=0.5)])
    assert conv.n_leading == 0 and conv.unranked == ("x", "o") and "x:ptr:fp32:unranked" in conv.describe()
    bufs = {"x": buffer("fp32", np.arange(8)), "o": buffer("fp32", np.zeros(8), "out")}
    out = client.lower_and_run(leg.text, conv, bufs, (2, 1, 1), lowering=mode, reuse=False)
    np.testing.assert_array_equal(_data(out.outputs, "o", 8), np.arange(8) + 0.5)


def test_a_failed_build_is_remembered_and_cleared_by_a_good_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(build, "CACHE", tmp_path)
    with pytest.raises(build.BuildError, match="building probe failed"):
        build._cached_build("probe", [b"x"], lambda o: ["/bin/sh", "-c", "echo no >&2; exit 3"], 10)
    failed = build._path("probe", [b"x"]).with_suffix(".failed")
    assert "no" in failed.read_text()
    out = build._cached_build("probe", [b"x"], lambda o: ["/bin/sh", "-c", f"echo ok > {o}"], 10)
    assert Path(out).read_text() == "ok\n" and not failed.exists()
