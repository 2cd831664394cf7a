"""Worker isolation: a killed, hung or memory-hungry case costs that case only."""

from __future__ import annotations

import os
import signal
import threading
import time

from backends import open_backend

SLOW_BODY = """
acc = x
for i in range(10000000):
    acc = acc + 1.0
y = acc
"""


def test_sigkill_mid_case_costs_that_case_only(interp, kernels) -> None:
    pid = interp.worker_pid
    assert pid is not None

    def kill_soon() -> None:
        time.sleep(1.5)
        os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=kill_soon)
    t.start()
    r = interp.run(kernels.unary_case(SLOW_BODY, n=8, block=8), timeout=4)
    t.join()
    # Killed from outside, retried once: the retry is slow too, so it times out; never a crash.
    assert r.status == "timeout"
    r2 = interp.run(kernels.add_case())
    assert r2.status == "ok" and interp.worker_pid not in (None, pid)


def test_outside_kill_is_a_harness_event_not_a_finding(interp, kernels, tmp_path) -> None:
    """kill -9 of a worker mid-case: the case is retried once; it passes, so no crash is reported."""
    flag = tmp_path / "first-attempt"
    src = (f"import os, time\nif not os.path.exists({str(flag)!r}):\n"
           f"    open({str(flag)!r}, 'w').close()\n    time.sleep(60)\n") + kernels.ADD_SRC
    pid = interp.worker_pid
    events = interp.harness_events

    def kill_soon() -> None:
        while not flag.exists():
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=kill_soon)
    t.start()
    r = interp.run(kernels.add_case(source=src), timeout=60)
    t.join()
    assert r.status == "ok", (r.status, r.message)
    assert interp.harness_events == events + 1 and "SIGKILL" in interp.last_note


def test_sigkill_twice_is_harness(interp, kernels) -> None:
    """Killed on both attempts (as the OOM killer would): status harness, judged as no finding."""
    from fuzz.pipeline import Pipeline

    src = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + kernels.ADD_SRC
    p = Pipeline([interp.name], 30, opened={interp.name: interp})
    run = p.run(kernels.add_case(source=src), run_invalid=True)
    r = run.results[interp.name]
    assert r.status == "harness" and "twice" in r.message
    assert not run.has_finding() and [x.origin for x in run.records] == ["harness"]
    assert interp.run(kernels.add_case()).status == "ok"  # later tests expect a live worker


def test_timeout_kills_and_recovers(interp, kernels) -> None:
    pid = interp.worker_pid
    t0 = time.monotonic()
    r = interp.run(kernels.unary_case(SLOW_BODY, n=8, block=8), timeout=2.0)
    assert r.status == "timeout" and r.stage == "run"
    assert time.monotonic() - t0 < 15
    assert pid is not None
    assert not _alive(pid)
    assert interp.run(kernels.add_case()).status == "ok"


def test_crash_reports_signal_and_stderr(interp, kernels) -> None:
    src = ("import os, signal, sys\nsys.stderr.write('about to abort\\n')\n"
           "os.kill(os.getpid(), signal.SIGABRT)\n") + kernels.ADD_SRC
    r = interp.run(kernels.add_case(source=src))
    assert (r.status, r.signal, r.stage) == ("crash", signal.SIGABRT, "frontend")
    assert "about to abort" in r.stderr_tail
    assert interp.run(kernels.add_case()).status == "ok"


def test_exit_reports_exit_code(interp, kernels) -> None:
    r = interp.run(kernels.add_case(source="import os\nos._exit(7)\n" + kernels.ADD_SRC))
    assert (r.status, r.exit_code, r.signal) == ("crash", 7, None)
    assert r.message == "worker exited with code 7"


def test_memory_limit_contains_a_hungry_case(interp, kernels) -> None:
    hog = "_hog = bytearray(64 << 30)\n"  # 64 GiB of address space: over the 8 GiB default
    r = interp.run(kernels.add_case(source=hog + kernels.ADD_SRC))
    assert (r.status, r.stage) == ("harness", "frontend") and "MemoryError" in r.message  # never rejects-valid
    assert interp.run(kernels.add_case()).status == "ok"


def test_rss_watchdog_without_address_limit(kernels) -> None:
    """With no RLIMIT_AS (as on a GPU box, where CUDA reserves huge address space), the orchestrator
    kills a worker whose resident memory passes the limit: a harness event, not a finding."""
    hog = "import time\n_hog = b'x' * (3 << 30)\ntime.sleep(30)\n"
    with open_backend("interpreter", memory_limit_gb=2.0, address_space_limit=False) as b:
        assert b.warm().get("memory_guard") == "rss"
        r = b.run(kernels.add_case(source=hog + kernels.ADD_SRC), timeout=60)
        assert r.status == "harness" and "memory limit" in r.message, r.message
        assert r.wall_s < 20
        assert b.run(kernels.add_case()).status == "ok"


def test_unsupported_and_context_manager(kernels) -> None:
    case = kernels.add_case()
    case.buffers["x"].dtype = "fp8"  # no runner knows it
    with open_backend("interpreter", memory_limit_gb=None) as b:
        r = b.run(case)
        assert r.status == "unsupported" and "fp8" in r.message
        pid = b.worker_pid
    assert pid is not None and not _alive(pid)


def test_worker_outlives_the_thread_that_started_it(kernels) -> None:
    """Campaigns warm backends in threads; the worker must not die with such a thread."""
    with open_backend("interpreter") as b:
        t = threading.Thread(target=b.warm)
        t.start()
        t.join()
        pid = b.worker_pid
        time.sleep(1.5)
        assert b.run(kernels.add_case()).status == "ok" and b.worker_pid == pid


def test_orphaned_worker_dies_with_its_orchestrator(tmp_path, kernels) -> None:
    """An orchestrator killed mid-case (worker hung) does not leave the worker behind."""
    import subprocess
    import sys

    from backends.worker import REPO_ROOT

    script = tmp_path / "orch.py"
    script.write_text(
        "import sys, threading\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from backends import open_backend\n"
        "from generators.case import KernelCase\n"
        "import json\n"
        "case = KernelCase.from_json(json.load(open(sys.argv[1])))\n"
        "b = open_backend('fault-hang')\n"
        "def go():\n"
        "    b.warm(); print(b.worker_pid, flush=True); b.run(case, timeout=600)\n"
        "t = threading.Thread(target=go); t.start(); t.join()\n")
    import json

    case_path = tmp_path / "case.json"
    case_path.write_text(json.dumps(kernels.unary_case(SLOW_BODY, n=8, block=8).to_json()))
    orch = subprocess.Popen([sys.executable, str(script), str(case_path)], stdout=subprocess.PIPE, text=True)
    assert orch.stdout is not None
    pid = int(orch.stdout.readline())
    time.sleep(1.0)  # the worker is now hanging in the case
    assert _alive(pid)
    orch.kill()
    orch.wait()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
