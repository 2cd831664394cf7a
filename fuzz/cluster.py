"""Campaigns on a Dask cluster (`tritondiff fuzz --scheduler tcp://HOST:PORT`).

The client (the `fuzz` process) owns the store; Dask workers run cases. A case is one task, or a
short chain of tasks when its backends need different hosts: the first task generates the case,
evaluates the reference and runs the backends that may run anywhere (`run_index(judge=False)`);
the next runs the backends that need a resource declared by `dask worker --resources GPU=1`
(`finish_index`), and the last judges, so verdicts are computed by the same code as locally.

On each Dask worker process, `TritondiffPlugin` (registered by the client) keeps a pool of
`Pipeline`s — long-lived backend worker subprocesses — shared by the tasks of every campaign
with the same backends, and names this host's external envs (`TRITONDIFF_ENV_PYTHON`).
A Dask worker lost mid-case costs its in-flight tasks only: the scheduler runs them elsewhere.
Pickled tasks travel between client and workers: a Dask cluster is a trusted network.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, KilledWorker, WorkerPlugin, as_completed, get_worker

from fuzz.options import UsageError
from fuzz.pipeline import CaseDone, Pipeline, finish_index, run_index

PLUGIN_NAME = "tritondiff"
ENV_VAR = "TRITONDIFF_ENV_PYTHON"  # on a worker host: "cuda=/usr/bin/python3,ascend@3.2.0=/opt/a/bin/python"
CONNECT_TIMEOUT_S = 20
DEVICE_RESOURCE = "GPU"  # default resource of backends that execute on a device (cuda, hip)
ANY = "any"
RESUBMITS = 2  # beyond the scheduler's own retries (distributed.scheduler.allowed-failures)


class ClusterError(RuntimeError):
    """The cluster cannot run this campaign (a worker without tritondiff, a lost scheduler)."""


# ---- placement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineSpec:
    """Which pipeline a task needs: backends (canonical names), their options and judging order."""

    names: tuple[str, ...]
    timeout: float
    opts: str  # JSON {backend: open_backend options}, so the spec hashes
    order: tuple[str, ...]

    def key(self) -> str:
        return json.dumps([self.names, self.timeout, self.opts, self.order])

    def backend_opts(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.opts)


@dataclass
class Stage:
    """A group of a case's backends that run in one task, on workers with `resource` (None: any)."""

    resource: str | None
    spec: PipelineSpec

    @property
    def resources(self) -> dict[str, float] | None:
        return {self.resource: 1} if self.resource else None


def default_resource(canonical: str) -> str | None:
    """Backends that execute on a device need a worker that declares one; others run anywhere."""
    from backends.registry import resolve

    return DEVICE_RESOURCE if resolve(canonical).capabilities.execute_on_gpu else None


def check_place(place: dict[str, str], canonical: list[str]) -> dict[str, str]:
    """`--place` items {backend spelling: resource or "any"} -> {canonical name: resource}."""
    from backends.registry import resolve

    out: dict[str, str] = {}
    for name, res in place.items():
        try:
            c = resolve(name).name
        except ValueError as e:
            raise UsageError(f"--place {name}={res}: {e}") from e
        if c not in canonical:
            raise UsageError(f"--place {name}={res}: {name!r} is not one of --backends")
        out[c] = res
    return out


def plan_stages(canonical: list[str], user_names: list[str], timeout: float,
                backend_opts: dict[str, dict[str, Any]], place: dict[str, str]) -> list[Stage]:
    """Group the backends by the resource they need; the group that runs anywhere comes first
    (it also generates the case and evaluates the reference). A device backend placed `any`
    compiles only, so its verdicts do not depend on which host ran it."""
    place = check_place(place, canonical)
    opts = {c: dict(backend_opts.get(u, {})) for c, u in zip(canonical, user_names)}
    groups: dict[str | None, list[str]] = {}
    for c in canonical:
        res = place.get(c, default_resource(c))
        if res == ANY:
            if default_resource(c) is not None:
                ro = dict(opts[c].get("runner_options") or {})
                ro["execute"] = "never"
                opts[c]["runner_options"] = ro
            res = None
        groups.setdefault(res, []).append(c)
    ordered = sorted(groups.items(), key=lambda kv: kv[0] is not None)
    return [Stage(res, PipelineSpec(tuple(names), timeout, json.dumps({n: opts[n] for n in names}, sort_keys=True),
                                    tuple(canonical)))
            for res, names in ordered]


def parse_env_var(text: str) -> dict[str, str]:
    """TRITONDIFF_ENV_PYTHON's value -> {canonical backend: python}."""
    from backends.registry import resolve

    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, py = part.partition("=")
        if not sep or not py.strip():
            raise ValueError(f"{ENV_VAR}: expected BACKEND=PYTHON[,...], got {part!r}")
        out[resolve(name.strip()).name] = py.strip()
    return out


# ---- worker side -------------------------------------------------------------------------------
class PipelinePool:
    """Idle pipelines of one spec on one Dask worker process; a task leases one (or opens one)."""

    def __init__(self, spec: PipelineSpec, backend_opts: dict[str, dict[str, Any]]) -> None:
        self.spec = spec
        self.backend_opts = backend_opts
        self.idle: list[Pipeline] = []
        self.lock = threading.Lock()
        self.closed = False

    @contextlib.contextmanager
    def lease(self) -> Iterator[Pipeline]:
        with self.lock:
            p = self.idle.pop() if self.idle else None
        if p is None:
            p = Pipeline(list(self.spec.names), self.spec.timeout, self.backend_opts, order=list(self.spec.order))
        ok = False
        try:
            yield p
            ok = True
        finally:
            with self.lock:
                keep = ok and not self.closed
                if keep:
                    self.idle.append(p)
            if not keep:
                p.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for p in idle:
            p.close()


_POOLS: dict[str, PipelinePool] = {}  # per Dask worker process, across campaigns
_POOLS_LOCK = threading.Lock()


class TritondiffPlugin(WorkerPlugin):
    """What a Dask worker needs for tritondiff: the client's config, this host's envs, warm pools.

    Registering it again (the next campaign, or a rerun after a client kill) replaces the old
    instance; pools of the backends the new campaign also uses stay warm.
    """

    name = PLUGIN_NAME

    def __init__(self, specs: list[PipelineSpec], generator_version: str) -> None:
        self.specs = specs
        self.generator_version = generator_version
        self.problem = ""
        self.host_env: dict[str, str] = {}

    def setup(self, worker: Any) -> None:
        import generators

        self.problem = ""
        if generators.GENERATOR_VERSION != self.generator_version:
            self.problem = (f"Dask worker {worker.address} has tritondiff generator "
                            f"{generators.GENERATOR_VERSION}, the client {self.generator_version}: "
                            "install the same tritondiff on every host")
        try:
            self.host_env = parse_env_var(os.environ.get(ENV_VAR, ""))
        except ValueError as e:
            self.problem = self.problem or f"Dask worker {worker.address}: {e}"
        keep = {self._pool_key(s) for s in self.specs}
        with _POOLS_LOCK:
            stale = [k for k in _POOLS if k not in keep]
            pools = [_POOLS.pop(k) for k in stale]
        for pool in pools:
            pool.close()

    def teardown(self, worker: Any) -> None:
        from distributed.core import Status

        if worker.status in (Status.closing, Status.closing_gracefully, Status.closed, Status.failed):
            with _POOLS_LOCK:
                pools = list(_POOLS.values())
                _POOLS.clear()
            for pool in pools:
                pool.close()

    def backend_opts(self, spec: PipelineSpec) -> dict[str, dict[str, Any]]:
        """The spec's options with this host's external envs (TRITONDIFF_ENV_PYTHON) on top."""
        opts = spec.backend_opts()
        for name in spec.names:
            if name in self.host_env:
                opts[name] = {**opts.get(name, {}), "env_python": self.host_env[name]}
        return opts

    def _pool_key(self, spec: PipelineSpec) -> str:
        return json.dumps([spec.key(), self.backend_opts(spec)], sort_keys=True)

    def pool(self, spec: PipelineSpec) -> PipelinePool:
        if self.problem:
            raise RuntimeError(self.problem)
        key = self._pool_key(spec)
        with _POOLS_LOCK:
            pool = _POOLS.get(key)
            if pool is None:
                pool = _POOLS[key] = PipelinePool(spec, self.backend_opts(spec))
            return pool


def _plugin() -> TritondiffPlugin:
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, TritondiffPlugin):
        raise RuntimeError(f"Dask worker {worker.address} has no tritondiff plugin (start the campaign "
                           "with `tritondiff fuzz --scheduler`)")
    return plugin


def task_first(spec: PipelineSpec, campaign_seed: int, weights: dict[str, float] | None, index: int,
               judge: bool) -> CaseDone:
    """The case's first task: generate, reference, the backends of this stage (then judge if last)."""
    with _plugin().pool(spec).lease() as p:
        done = run_index(p, campaign_seed, weights, index, judge=judge)
    return done.slim() if judge else done


def task_next(spec: PipelineSpec, done: CaseDone, judge: bool) -> CaseDone:
    """A later task of the case: this stage's backends on the case begun upstream (then judge)."""
    with _plugin().pool(spec).lease() as p:
        finish_index(p, done, judge=judge)
    return done.slim() if judge else done


def task_warm(spec: PipelineSpec, n: int) -> dict[str, Any]:
    """Open and warm `n` pipelines of the spec on this worker (one per thread), in parallel."""
    pool = _plugin().pool(spec)
    errors: list[BaseException] = []
    go = threading.Barrier(n)

    def one() -> None:
        try:
            with pool.lease() as p:
                go.wait(timeout=600)  # hold every lease at once, so n distinct pipelines warm
                p.warm()
        except BaseException as e:
            errors.append(e)
            go.abort()

    threads = [threading.Thread(target=one, name=f"tritondiff-warm-{k}") for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    return {"worker": get_worker().address, "pipelines": n}


def task_reduce(kwargs: dict[str, Any], spec: PipelineSpec) -> dict[str, Any]:
    """Background reduction of a new finding on a worker that may run its backend."""
    from fuzz.reduce import reduce_job

    plugin = _plugin()
    if plugin.problem:
        raise RuntimeError(plugin.problem)
    return reduce_job(**kwargs, backend_opts=plugin.backend_opts(spec))


# ---- client side -------------------------------------------------------------------------------
@dataclass
class _Flight:
    index: int
    attempt: int = 0


@dataclass
class DaskEngine:
    """Submits case indices to the cluster, keeps enough in flight, streams results back."""

    cfg: Any
    user_names: list[str]
    stop: threading.Event
    abort: threading.Event
    note: Callable[[str], None]
    client: Any = None
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self) -> None:
        import generators

        cfg = self.cfg
        self.stages = plan_stages(cfg.backends, self.user_names, cfg.timeout, cfg.backend_opts, cfg.place)
        try:
            self.client = Client(cfg.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise UsageError(f"--scheduler {cfg.scheduler}: cannot reach a Dask scheduler: {e}") from None
        self.token = uuid.uuid4().hex[:10]
        self.inflight: dict[Any, _Flight] = {}
        self.lock = threading.Lock()
        self.go_event = threading.Event()
        self.feeder: threading.Thread | None = None
        self._backend_s = 0.0
        self._slots = 0
        self._slots_at = 0.0
        self.lost = 0
        opts: dict[str, Any] = {}
        for s in self.stages:
            opts.update(s.spec.backend_opts())
        self.reduce_spec = PipelineSpec(tuple(cfg.backends), cfg.timeout, json.dumps(opts, sort_keys=True),
                                        tuple(cfg.backends))
        plugin = TritondiffPlugin([s.spec for s in self.stages], generators.GENERATOR_VERSION)
        try:
            self.client.register_plugin(plugin, name=PLUGIN_NAME)
        except Exception as e:
            self.client.close()
            raise ClusterError(f"tritondiff cannot set itself up on a Dask worker of {cfg.scheduler}: "
                               f"{type(e).__name__}: {e} (is this tritondiff installed there, in the Python "
                               "that runs `dask worker`?)") from None

    # ---- engine interface (see fuzz.campaign.LocalPool) ----
    @property
    def slots(self) -> int:
        return max(1, self._refresh_slots())

    @property
    def producers(self) -> int:
        return 1

    def start(self, source: Any, results: queue.Queue[CaseDone | BaseException | None]) -> None:
        """Wait for workers, warm every worker's pipelines, start streaming results."""
        workers = self._wait_for_workers()
        if workers is None:
            return
        for stage in self.stages:
            if stage.resource and not any(stage.resource in (w.get("resources") or {}) for w in workers.values()):
                self.note(f"no Dask worker declares resource {stage.resource} (needed by "
                          f"{', '.join(stage.spec.names)}): those cases wait until one joins "
                          f"(`dask worker ADDRESS --resources {stage.resource}=1`), or pass --place "
                          f"{stage.spec.names[0]}=any to compile only")
        futs = []
        for addr, w in workers.items():
            for stage in self.stages:
                if stage.resource and stage.resource not in (w.get("resources") or {}):
                    continue
                futs.append(self.client.submit(task_warm, stage.spec, int(w.get("nthreads") or 1),
                                               workers=[addr], allow_other_workers=True, pure=False,
                                               resources=stage.resources,
                                               key=f"tritondiff-warm-{self.token}-{addr}-{len(futs)}"))
        pending = set(futs)
        while pending and not self.abort.is_set():
            for f in list(pending):
                if f.done():
                    pending.discard(f)
                    if f.status == "error":
                        self.stop.set()
                        f.result()  # raises the worker's error (e.g. WorkerStartError) here
            time.sleep(0.05)
        self.feeder = threading.Thread(target=self._feed, args=(source, results), daemon=True, name="dask-feeder")
        self.feeder.start()

    def go(self) -> None:
        self.go_event.set()

    def backend_time(self) -> float:
        return self._backend_s

    def kill(self) -> None:
        with self.lock:
            futs = list(self.inflight)
        if futs:
            self.client.cancel(futs, force=True)

    def join(self, abort: bool) -> None:
        if self.feeder is not None:
            self.feeder.join(timeout=5.0 if abort else None)

    def close(self) -> None:
        self.go_event.set()
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)

    def submit_reduce(self, kwargs: dict[str, Any], backend: str) -> Any:
        """A Dask task on a worker that can run every backend of the campaign: the reduction
        re-runs the failing backend and checks the healthy ones on each candidate."""
        resources = {s.resource: 1 for s in self.stages if s.resource}
        key = f"tritondiff-reduce-{self.token}-{uuid.uuid4().hex[:10]}"
        return self.client.submit(task_reduce, kwargs, self.reduce_spec, resources=resources or None,
                                  pure=False, key=key)

    # ---- internals ----
    def _refresh_slots(self) -> int:
        now = time.monotonic()
        if now - self._slots_at > 2.0:
            try:
                self._slots = sum(self.client.nthreads().values())
            except Exception:
                pass
            self._slots_at = now
        return self._slots

    def _wait_for_workers(self) -> dict[str, Any] | None:
        said = False
        while not self.abort.is_set() and not self.stop.is_set():
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
            if workers:
                self._slots = sum(int(w.get("nthreads") or 1) for w in workers.values())
                self._slots_at = time.monotonic()
                return workers
            if not said:
                self.note(f"waiting for Dask workers to join {self.cfg.scheduler} "
                          f"(`dask worker {self.cfg.scheduler}`)")
                said = True
            time.sleep(0.5)
        return None

    def _submit(self, index: int, attempt: int) -> Any:
        cfg = self.cfg
        key = f"tritondiff-{self.token}-{index}-{attempt}"
        fut = None
        for k, stage in enumerate(self.stages):
            last = k == len(self.stages) - 1
            if k == 0:
                fut = self.client.submit(task_first, stage.spec, cfg.seed, cfg.weights, index, last,
                                         key=f"{key}-s{k}", resources=stage.resources, priority=-index)
            else:
                fut = self.client.submit(task_next, stage.spec, fut, last, key=f"{key}-s{k}",
                                         resources=stage.resources, priority=-index)
        return fut

    def _feed(self, source: Any, results: queue.Queue[CaseDone | BaseException | None]) -> None:
        try:
            while not self.go_event.wait(0.2):
                if self.abort.is_set():
                    return
            ac = as_completed(loop=self.client.loop)

            def top_up() -> None:
                window = 2 * self.slots + 2
                while len(self.inflight) < window and not self.stop.is_set():
                    i = source.take()
                    if i is None:
                        return
                    self._add(ac, _Flight(i))

            top_up()
            for fut in ac:
                with self.lock:
                    flight = self.inflight.pop(fut)
                if self.abort.is_set():
                    break
                try:
                    done = fut.result()
                except (KilledWorker, CancelledError) as e:
                    # KilledWorker: the case's task was running on workers that died, more than the
                    # scheduler retries (allowed-failures); Cancelled: the scheduler forgot it.
                    if flight.attempt < RESUBMITS and not self.stop.is_set():
                        self._add(ac, _Flight(flight.index, flight.attempt + 1))
                    else:
                        self.lost += 1
                        self.note(f"case {flight.index} lost on the cluster ({type(e).__name__}: {e}); "
                                  "not committed, a rerun runs it again")
                    continue
                except Exception as e:
                    results.put(RuntimeError(f"case {flight.index} failed on the cluster: {type(e).__name__}: {e}"))
                    self.stop.set()
                    continue
                self._backend_s += done.run.backend_s
                results.put(done)
                top_up()
        except BaseException as e:
            if not self.abort.is_set():
                results.put(RuntimeError(f"dask feeder failed: {type(e).__name__}: {e}"))
        finally:
            results.put(None)

    def _add(self, ac: Any, flight: _Flight) -> None:
        fut = self._submit(flight.index, flight.attempt)
        with self.lock:
            self.inflight[fut] = flight
        ac.add(fut)
