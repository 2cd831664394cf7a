"""Campaigns on a Dask cluster (`tritondiff fuzz --scheduler tcp://HOST:PORT`).

The client (the `fuzz` process) owns the store; Dask workers run cases. A case is one task, or a
short chain of tasks when its backends need different hosts: the first task generates the case,
evaluates the reference and runs the backends that may run anywhere (`run_index(judge=False)`);
the next runs the backends that need a resource declared by `dask worker --resources GPU=1`
(`finish_index`), and the last judges, so verdicts are computed by the same code as locally.

On each Dask worker process, `TritondiffPlugin` (registered by the client) keeps a pool of warm
backends — long-lived backend worker subprocesses — that tasks lease as pipelines, shared by
every campaign using the same backend, and names this host's external envs
(`TRITONDIFF_ENV_PYTHON`).
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
    judging: str = "{}"  # JSON of the campaign's Pipeline options (variants, reference, relation weights)

    def key(self) -> str:
        return json.dumps([self.names, self.timeout, self.opts, self.order, self.judging])

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
                backend_opts: dict[str, dict[str, Any]], place: dict[str, str],
                judging: dict[str, Any] | None = None) -> list[Stage]:
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
    judged = json.dumps(judging or {}, sort_keys=True)
    return [Stage(res, PipelineSpec(tuple(names), timeout, json.dumps({n: opts[n] for n in names}, sort_keys=True),
                                    tuple(canonical), judged))
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
class BackendPool:
    """Idle backends of one Dask worker process (each a live worker subprocess), by name and
    options, shared by every task and every campaign that uses the same backend: a task leases
    the backends of its pipeline and gives them back warm."""

    def __init__(self) -> None:
        self.idle: dict[str, list[Any]] = {}
        self.lock = threading.Lock()

    @staticmethod
    def key(name: str, opts: dict[str, Any]) -> str:
        return json.dumps([name, opts], sort_keys=True)

    @contextlib.contextmanager
    def lease(self, spec: PipelineSpec, backend_opts: dict[str, dict[str, Any]]) -> Iterator[Pipeline]:
        from fuzz.pipeline import _open_backend_fn

        leased: list[tuple[str, Any]] = []
        ok = False
        try:
            for name in spec.names:
                opts = backend_opts.get(name, {})
                k = self.key(name, opts)
                with self.lock:
                    stack = self.idle.get(k)
                    b = stack.pop() if stack else None
                if b is None:
                    b = _open_backend_fn()(name, **opts)
                leased.append((k, b))
            yield Pipeline(list(spec.names), spec.timeout, opened={n: b for n, (_, b) in zip(spec.names, leased)},
                           order=list(spec.order), **json.loads(spec.judging))
            ok = True
        finally:
            for k, b in leased:
                if ok:
                    with self.lock:
                        self.idle.setdefault(k, []).append(b)
                else:  # a task that raised may have left a backend mid-call: do not reuse it
                    with contextlib.suppress(Exception):
                        b.close()

    def close(self, keep: set[str] | None = None) -> None:
        """Close the idle backends, or those whose key is not in `keep`."""
        with self.lock:
            gone = [k for k in self.idle if keep is None or k not in keep]
            backends = [b for k in gone for b in self.idle.pop(k)]
        for b in backends:
            with contextlib.suppress(Exception):
                b.close()


_POOL = BackendPool()  # per Dask worker process, across campaigns


class TritondiffPlugin(WorkerPlugin):
    """What a Dask worker needs for tritondiff: the client's config, this host's envs, warm backends.

    Registering it again (the next campaign, or a rerun after a client kill) replaces the old
    instance; backends the new campaign also uses stay warm, the others are closed.
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
        keep = set()
        for spec in self.specs:
            opts = self.backend_opts(spec)
            keep |= {_POOL.key(n, opts.get(n, {})) for n in spec.names}
        _POOL.close(keep)

    def teardown(self, worker: Any) -> None:
        from distributed.core import Status

        if worker.status in (Status.closing, Status.closing_gracefully, Status.closed, Status.failed):
            _POOL.close()

    def backend_opts(self, spec: PipelineSpec) -> dict[str, dict[str, Any]]:
        """The spec's options with this host's external envs (TRITONDIFF_ENV_PYTHON) on top."""
        opts = spec.backend_opts()
        for name in spec.names:
            if name in self.host_env:
                opts[name] = {**opts.get(name, {}), "env_python": self.host_env[name]}
        return opts

    @contextlib.contextmanager
    def pipeline(self, spec: PipelineSpec) -> Iterator[Pipeline]:
        if self.problem:
            raise RuntimeError(self.problem)
        with _POOL.lease(spec, self.backend_opts(spec)) as p:
            yield p


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
    with _plugin().pipeline(spec) as p:
        done = run_index(p, campaign_seed, weights, index, judge=judge)
    return done.slim() if judge else done


def task_next(spec: PipelineSpec, done: CaseDone, judge: bool) -> CaseDone:
    """A later task of the case: this stage's backends on the case begun upstream (then judge)."""
    with _plugin().pipeline(spec) as p:
        finish_index(p, done, judge=judge)
    return done.slim() if judge else done


def task_warm(spec: PipelineSpec, n: int) -> dict[str, Any]:
    """Open and warm `n` sets of the spec's backends on this worker (one per thread), in parallel."""
    plugin = _plugin()
    errors: list[BaseException] = []
    together = threading.Barrier(n)

    def one() -> None:
        try:
            with plugin.pipeline(spec) as p:
                together.wait(timeout=600)  # hold every lease at once, so n distinct sets warm
                p.warm()
        except BaseException as e:
            errors.append(e)
            together.abort()

    threads = [threading.Thread(target=one, name=f"tritondiff-warm-{k}") for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real:
        e = real[0]
        try:  # same type (the CLI prints EnvError, WorkerStartError in one line), and say where
            where = type(e)(f"on Dask worker {get_worker().address}: {e}")
        except Exception:
            raise e from None
        raise where from e
    return {"worker": get_worker().address, "pipelines": n}


def task_reduce(kwargs: dict[str, Any], spec: PipelineSpec) -> dict[str, Any]:
    """Background reduction of a new finding, on warm backends of this worker's pool."""
    from fuzz.reduce import reduce_job

    with _plugin().pipeline(spec) as p:
        return reduce_job(**kwargs, opened=p.backends)


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
        self.stages = plan_stages(cfg.backends, self.user_names, cfg.timeout, cfg.backend_opts, cfg.place,
                                  cfg.pipeline_opts())
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
                                        tuple(cfg.backends), json.dumps({"reference": cfg.reference}))
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
        """The feeder thread ends the results with one None; none runs if start() gave up."""
        return 1 if self.feeder is not None else 0

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
                    results.put(ClusterError(f"case {flight.index} failed on the cluster: {type(e).__name__}: {e}"))
                    self.stop.set()
                    continue
                self._backend_s += done.run.backend_s
                results.put(done)
                top_up()
        except BaseException as e:
            if not self.abort.is_set():
                results.put(ClusterError(f"lost the cluster at {self.cfg.scheduler}: {type(e).__name__}: {e}; "
                                         "committed cases are kept, rerun to resume"))
        finally:
            results.put(None)

    def _add(self, ac: Any, flight: _Flight) -> None:
        fut = self._submit(flight.index, flight.attempt)
        with self.lock:
            self.inflight[fut] = flight
        ac.add(fut)
