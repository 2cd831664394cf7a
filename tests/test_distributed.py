"""Campaigns on a real Dask cluster on loopback: a `dask scheduler` and two `dask worker` processes.

The cluster gives the same cases, verdicts and findings as the local pool for the same seed; a
Dask worker SIGKILLed while it runs a case loses no finding (the scheduler runs its case
elsewhere); a client SIGKILLed mid-campaign resumes when rerun. Uses the interpreter and the
fault-injecting `fault-oob-store` backend, so there are findings to lose.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

REPO = Path(__file__).resolve().parents[1]
BACKENDS = "interpreter,fault-oob-store"
SEED, N = 0, 12
WORKERS = {"w1": [], "w2": ["--resources", "FAULT=1"]}  # w2 alone may run backends placed on FAULT


def _env_ready() -> bool:
    try:
        from backends.envs import is_installed
        from backends.registry import resolve

        return is_installed(resolve("interpreter").env)
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _env_ready(), reason="managed triton env for 'interpreter' not installed")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")


class Cluster:
    """A scheduler and named workers as subprocesses on 127.0.0.1, ports chosen by the OS."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.client: Client | None = None
        sched_file = tmp / "scheduler.json"
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(sched_file)])
        try:
            deadline = time.monotonic() + 60
            while not sched_file.exists() or not sched_file.read_text().strip().endswith("}"):
                assert time.monotonic() < deadline and self.procs["scheduler"].poll() is None, self.log("scheduler")
                time.sleep(0.1)
            self.address = json.loads(sched_file.read_text())["address"]
            self.client = Client(self.address, timeout=30, set_as_default=False)
        except BaseException:
            self.close()
            raise

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=self.tmp,
                                            env={**_env(), **(env or {})}, stdout=log, stderr=log,
                                            start_new_session=True)
        log.close()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    def start_worker(self, name: str, env: dict[str, str] | None = None) -> None:
        self._spawn(name, ["worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny",
                           "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(self.tmp / name),
                           *WORKERS.get(name, [])], env)

    def workers(self) -> dict[str, str]:
        """{name: address} of the workers the scheduler knows."""
        assert self.client is not None
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): addr for addr, w in info.items()}

    def ensure(self, names: list[str] = list(WORKERS)) -> None:  # noqa: B006 (never mutated)
        for n in names:
            p = self.procs.get(n)
            if p is None or p.poll() is not None:
                self.start_worker(n)
        deadline = time.monotonic() + 90
        while not set(names) <= set(self.workers()):
            assert time.monotonic() < deadline, "workers did not join: " + self.log(names[-1])
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    def close(self) -> None:
        """SIGKILL: a worker's backend subprocesses follow their parent within a second."""
        if self.client is not None:
            self.client.close()
        for p in self.procs.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.ensure()
        yield c
    finally:
        c.close()


def fuzz_args(db: Path, corpus: Path, scheduler: str | None, *extra: str) -> list[str]:
    extra = ("--scheduler", scheduler, *extra) if scheduler else extra
    return ["fuzz", "--backends", BACKENDS, "--seed", str(SEED), "--cases", str(N), "--db", str(db),
            "--corpus", str(corpus), "--json", "-q", *extra]


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fuzz", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=300)


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def committed(db: Path) -> int:
    r = rows(db, "SELECT COUNT(*) FROM cases") if db.exists() else []
    return r[0][0] if r else 0


def corpus_signatures(corpus: Path) -> set[str]:
    sigs = set()
    for f in corpus.glob("*.json"):
        sigs |= {v["signature"] for v in json.loads(f.read_text())["expected"].values() if v["signature"]}
    return sigs


def assert_same_campaign(db: Path, corpus: Path, ref: tuple[Path, Path]) -> None:
    """Same cases, same verdicts per case and backend, same findings and counts, same corpus coverage."""
    rdb, rcorpus = ref
    for sql in ("SELECT idx, seed, case_id, validity, reason FROM cases ORDER BY idx",
                "SELECT idx, backend, origin, kind, stage, signature FROM outcomes ORDER BY idx, backend, origin",
                "SELECT signature, backend, kind, stage, count FROM findings ORDER BY signature"):
        assert rows(db, sql) == rows(rdb, sql), sql
    assert corpus_signatures(corpus) == corpus_signatures(rcorpus) == {s for (s,) in rows(db, "SELECT signature "
                                                                                          "FROM findings")}


def test_placement_groups_backends_by_resource() -> None:
    """Device backends need a worker with the resource (default GPU); `--place X=any` compiles X
    anywhere (never executing, so no host changes a verdict); the group with no resource comes
    first (it generates the case); every stage judges in the campaign's order."""
    from backends.registry import resolve
    from fuzz.cluster import plan_stages
    from fuzz.options import UsageError

    names = ["cuda", "interpreter", "hip"]
    canon = [resolve(n).name for n in names]
    stages = plan_stages(canon, names, 30.0, {"cuda": {"env_python": "/opt/py"}}, {})
    assert [(st.resource, st.spec.names) for st in stages] == [(None, (canon[1],)), ("GPU", (canon[0], canon[2]))]
    assert stages[1].spec.backend_opts()[canon[0]] == {"env_python": "/opt/py"}
    assert all(st.spec.order == tuple(canon) for st in stages)
    stages = plan_stages(canon, names, 30.0, {}, {"cuda": "any", "hip@3.9.0": "ROCM"})
    assert [(st.resource, st.spec.names) for st in stages] == [(None, (canon[0], canon[1])), ("ROCM", (canon[2],))]
    assert stages[0].spec.backend_opts()[canon[0]] == {"runner_options": {"execute": "never"}}
    with pytest.raises(UsageError, match="not one of --backends"):
        plan_stages(canon, names, 30.0, {}, {"ascend": "NPU"})


@pytest.fixture(scope="module")
def local_ref(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("local")
    db, corpus = tmp / "local.sqlite", tmp / "corpus"
    r = cli(fuzz_args(db, corpus, None), tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["cases"] == N and len(s["findings"]) >= 2, "fault-oob-store should find something"
    return db, corpus


def test_cluster_campaign_matches_the_local_pool(cluster: Cluster, local_ref: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    cluster.ensure()
    db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
    r = cli(fuzz_args(db, corpus, cluster.address), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["session"]["engine"] == "dask" and s["session"]["jobs"] == 2
    assert s["cases"] == N and s["session"]["cases"] == N
    assert_same_campaign(db, corpus, local_ref)


def test_client_killed_mid_campaign_resumes(cluster: Cluster, local_ref: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    cluster.ensure()
    db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
    p = subprocess.Popen([sys.executable, "-m", "fuzz", *fuzz_args(db, corpus, cluster.address)], cwd=tmp_path,
                         env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while committed(db) < 3 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = committed(db)
    assert 3 <= before < N, "campaign finished (or never started) before the kill"

    r = cli(fuzz_args(db, corpus, cluster.address), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["resumed"] is True and s["session"]["cases"] == N - before
    assert_same_campaign(db, corpus, local_ref)


def test_new_findings_reduce_in_the_background(cluster: Cluster, local_ref: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    """--reduce on the cluster: each new finding is reduced by a task of its own while cases go on
    (committed meanwhile), and the client keeps the minimal kernels in the store and the corpus."""
    from fuzz.store import Store

    cluster.ensure()
    db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
    r = cli(fuzz_args(db, corpus, cluster.address, "--reduce", "--reduce-budget", "3"), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)["session"]
    assert_same_campaign(db, corpus, local_ref)
    with Store(db, create=False) as st:
        found = st.findings()
        assert s["reduced"] == len(found) >= 2
        for f in found:
            small, summary = st.reduced(f.signature)
            assert small is not None and "statements" in summary, f.signature
    assert s["committed_while_reducing"] > 0, "the campaign waited for a reduction"
    notes = [json.loads(p.read_text()).get("note", "") for p in corpus.glob("*.json")]
    assert sum(n.startswith("reduced from") for n in notes) >= 1


def test_backend_placed_on_a_resource_runs_only_there(cluster: Cluster, local_ref: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    """`--place fault-oob-store=FAULT`: each case is two tasks, the interpreter one anywhere, the
    fault-oob-store one only on w2 (which declares FAULT=1) and judged there; same verdicts."""
    from distributed import get_task_stream

    cluster.ensure()
    db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
    assert cluster.client is not None
    with get_task_stream(client=cluster.client) as ts:
        r = cli(fuzz_args(db, corpus, cluster.address, "--place", "fault-oob-store=FAULT"), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_campaign(db, corpus, local_ref)
    names = {addr: name for name, addr in cluster.workers().items()}
    ran = {}
    for t in ts.data:
        key = str(t["key"])
        if key.startswith("tritondiff-") and "-warm-" not in key:
            ran[key] = names.get(t["worker"], t["worker"])
    second = {k: w for k, w in ran.items() if k.endswith("-s1")}
    assert len(second) >= N and set(second.values()) == {"w2"}, ran
    assert len([k for k in ran if k.endswith("-s0")]) >= N


# Last: it leaves one worker, and restarting one costs a backend warm-up.
def test_worker_killed_mid_case_loses_no_finding(cluster: Cluster, local_ref: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    cluster.ensure()
    db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
    p = subprocess.Popen([sys.executable, "-m", "fuzz", *fuzz_args(db, corpus, cluster.address)], cwd=tmp_path,
                         env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = cluster.workers()["w1"]
    deadline = time.monotonic() + 120
    # Kill w1 while it runs a case task (not between two), after a few cases are in the store.
    while p.poll() is None and time.monotonic() < deadline:
        assert cluster.client is not None
        busy = [k for k in cluster.client.processing().get(victim, ()) if "-s0" in str(k)]
        if committed(db) >= 3 and busy:
            break
        time.sleep(0.02)
    assert p.poll() is None, "campaign finished before a worker could be killed"
    cluster.kill("w1")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    s = json.loads(out)
    assert s["cases"] == N and s["session"]["cases"] == N
    assert_same_campaign(db, corpus, local_ref)


def test_host_env_var_names_the_workers_python(cluster: Cluster, tmp_path: Path) -> None:
    """TRITONDIFF_ENV_PYTHON on a worker host makes a backend run in that Python there: a wrong
    path stops the campaign at warm-up with one line naming it, before any case is stored."""
    cluster.start_worker("w3", env={"TRITONDIFF_ENV_PYTHON": "interpreter=/nonexistent/python3"})
    try:
        cluster.ensure(["w3"])
        db, corpus = tmp_path / "dask.sqlite", tmp_path / "corpus"
        r = cli(fuzz_args(db, corpus, cluster.address), tmp_path)
        assert r.returncode == 1, r.stderr[-3000:]
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("tritondiff fuzz: error: on Dask worker") and "/nonexistent/python3" in line, \
            r.stderr[-3000:]
        assert committed(db) == 0
    finally:
        cluster.kill("w3")
