"""`fuzz --guided`: atheris' libFuzzer chooses the generator's decisions, scored by triton's coverage.

Coverage must be of the backend's own Python (triton.language, the code generator, semantic
analysis, triton-ascend's driver), which lives only in the backend's env, so libFuzzer runs in
the guide backend's worker (the first of --backends): the worker imports triton under
`atheris.instrument_imports` and, once told to guide, hands its loop to `atheris.Fuzz()`. Each
input libFuzzer makes comes here as bytes; this process generates the kernel from them through
the byte-stream choice source (`generators.choices.from_bytes`), and the one campaign pipeline
(fuzz/pipeline.py) judges it on every backend, the guide's runs going back into that same worker
while libFuzzer waits, so the coverage it scores is that of the kernel's own compile and run.
Every case is then stored like any other (same store, same corpus files of findings, same
reduce and report), with the input kept beside it.

libFuzzer keeps the inputs that reached new coverage in `runs/<campaign>-seeds/` and reads that
directory again when it (re)starts: a resumed campaign, or a fresh worker after a crash, starts
from the seeds found so far. Seeds whose cases are committed already are only re-run on the guide
(libFuzzer must see their coverage again), not judged again.

Why libFuzzer's own driver and not a loop of ours: it brings the coverage feedback (edge counters
and comparison tracing that atheris' instrumentation feeds), the mutators, and the on-disk corpus,
and it embeds in the worker protocol because its callback can serve the orchestrator's requests.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz.campaign import CampaignConfig, IndexSource, LocalPool
from fuzz.pipeline import CaseDone, CaseRun, Pipeline

MAX_LEN = 8192  # bytes of decisions per input: the largest kernels read about 5,000
INITIAL_SEEDS = 16  # random inputs written into an empty seeds directory (random generation's start)
# libFuzzer must leave crashes, hangs and memory to tritondiff's worker handling: those are findings
# or harness events judged by the orchestrator, not libFuzzer's reasons to stop (atheris reads
# -timeout=0 as one second, so the per-input timeout is set out of reach instead).
LIBFUZZER_FLAGS = ["-rss_limit_mb=0", "-malloc_limit_mb=0", "-timeout=1000000", "-print_final_stats=0",
                   *[f"-handle_{s}=0" for s in ("segv", "bus", "abrt", "ill", "fpe", "int", "term", "xfsz",
                                                "usr1", "usr2")]]
MAX_DEATHS = 5  # consecutive inputs lost to a dead worker before the campaign stops


def generate_from_bytes(data: bytes, weights: dict[str, float] | None) -> Any:
    """The kernel a guided input stands for (no seed: the bytes are its decisions)."""
    from generators.choices import from_bytes
    from generators.generator import Generator

    return Generator(from_bytes(data), weights).build(None)


def guided_case(pipeline: Pipeline, data: bytes, weights: dict[str, float] | None, index: int) -> CaseDone:
    """Generate the kernel of `data` and judge it through the pipeline, as run_index does for a seed."""
    t = time.perf_counter()
    try:
        case = generate_from_bytes(data, weights)
    except Exception as e:
        return CaseDone(index, -1, None, CaseRun(valid=False), time.perf_counter() - t,
                        gen_error=f"generator raised {type(e).__name__}: {e}", guided_input=data)
    gen_s = time.perf_counter() - t
    return CaseDone(index, -1, case, pipeline.run(case), gen_s, guided_input=data)


def write_initial_seeds(seeds: Path, seed: int, n: int = INITIAL_SEEDS, size: int = 1024) -> int:
    """Give an empty seeds directory `n` random inputs (libFuzzer names files by their SHA-1)."""
    seeds.mkdir(parents=True, exist_ok=True)
    if any(seeds.iterdir()):
        return 0
    rng = random.Random(seed)
    for _ in range(n):
        data = rng.randbytes(size)
        (seeds / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return n


class GuidedPool(LocalPool):
    """The engine of a guided campaign: one pipeline, its first backend's worker running libFuzzer."""

    def __init__(self, cfg: CampaignConfig, first: Pipeline, user_names: list[str], stop: threading.Event,
                 abort: threading.Event, judged: set[str], note: Callable[[str], None]) -> None:
        super().__init__(cfg, first, user_names, stop, abort)
        self.judged = set(judged)
        self.note = note
        self.seeds = cfg.seeds_dir()
        self.replayed = 0  # seeds of earlier sessions re-run for libFuzzer only
        self.guide_name = next(iter(first.backends))
        # Lines the guide's worker reported on runs that are not cases (the warm-up kernel, replayed
        # seeds): the worker reports a line once, so they go with the next case or be lost.
        self.pending: dict[str, list[int]] = {}

    def guided_stats(self) -> dict[str, Any]:
        """What the session summary says of the guided loop."""
        seeds = sum(1 for _ in self.seeds.iterdir()) if self.seeds.is_dir() else 0
        return {"seeds_dir": str(self.seeds), "seeds": seeds, "replayed": self.replayed,
                "guide": self.guide_name}

    def argv(self, scratch: Path) -> list[str]:
        return [f"-max_len={MAX_LEN}", f"-seed={self.cfg.seed + 1}", *LIBFUZZER_FLAGS,
                f"-artifact_prefix={scratch}/", str(self.seeds.resolve())]

    def _worker(self, pipeline: Pipeline, source: IndexSource,
                results: queue.Queue[CaseDone | BaseException | None],
                warmed: queue.Queue[BaseException | None]) -> None:
        def warm() -> None:
            pipeline.warm()
            made = write_initial_seeds(self.seeds, self.cfg.seed)
            if made:
                self.note(f"guided: {made} random inputs start the seed corpus {self.seeds}/")
            else:
                self.note(f"guided: resuming from the seed corpus {self.seeds}/ "
                          f"({sum(1 for _ in self.seeds.iterdir())} inputs)")
            # The first kernel imports (and instruments) the rest of triton: before the clock.
            guide = pipeline.backends[self.guide_name]
            self._keep(guide.run(generate_from_bytes(b"", self.cfg.weights), self.cfg.timeout))

        try:
            if not self._ready(warm, warmed):
                return
            self._loop(pipeline, pipeline.backends[self.guide_name], source, results)
        except BaseException as e:
            if not self.abort.is_set():
                results.put(RuntimeError(f"guided pipeline failed: {type(e).__name__}: {e}\n"
                                         f"{traceback.format_exc()}"))
        finally:
            results.put(None)

    def _loop(self, pipeline: Pipeline, guide: Any, source: IndexSource,
              results: queue.Queue[CaseDone | BaseException | None]) -> None:
        argv = self.argv(Path(guide._scratch))
        deaths = 0
        wait = max(300.0, 4 * self.cfg.timeout)  # a fresh libFuzzer re-runs its corpus first
        while not self.stop.is_set():
            if source.deadline is not None and time.monotonic() >= source.deadline:
                break
            data = guide.next_input(argv, wait)
            if data is None:
                deaths += 1
                if deaths >= MAX_DEATHS:
                    raise RuntimeError(f"the guided worker of {self.guide_name} died {deaths} times without "
                                       f"making an input; its log: {guide.log_path}")
                continue
            deaths = 0
            digest = hashlib.sha1(data).hexdigest()
            if digest in self.judged:  # committed in an earlier session: coverage for libFuzzer only
                self._replay(guide, data)
                guide.input_done()
                continue
            i = source.take()
            if i is None:
                break
            done = guided_case(pipeline, data, self.cfg.weights, i)
            self.judged.add(digest)
            if self.abort.is_set():
                break
            if self.pending:
                cov = done.run.coverage.setdefault(self.guide_name, {})
                for f, lines in self.pending.items():
                    cov.setdefault(f, []).extend(lines)
                self.pending = {}
            results.put(done)
            guide.input_done()

    def _replay(self, guide: Any, data: bytes) -> None:
        self.replayed += 1
        try:
            case = generate_from_bytes(data, self.cfg.weights)
        except Exception:
            return
        from oracles import reference

        try:
            reference.evaluate(case)
        except reference.UndefinedBehaviour:
            return  # never ran on a backend when it was judged either
        except Exception:
            pass
        self._keep(guide.run(case, self.cfg.timeout))

    def _keep(self, res: Any) -> None:
        for f, lines in getattr(res, "coverage", {}).items():
            self.pending.setdefault(f, []).extend(lines)
