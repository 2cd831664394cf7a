"""What tritondiff knows about each CPU-device Triton fork: where its pieces live and how to wake it.

Facts, per fork (from their published layouts):
  smt            spine-triton installs a package named `triton` whose backend lives in
                 `triton/backends/spine_triton/`; its TTIR -> linalg step runs
                 `triton/backends/spine_triton/bin/spine-triton-opt <ttir> --triton-to-linalg-experimental
                 -o <linalg>`; kernels are launched with CPU torch tensors.
  triton-shared  the reference CPU backend: `$TRITON_SHARED_OPT_PATH` names `triton-shared-opt`
                 (same flag), stages ttir -> ttsharedir -> llir -> cpuasm, and its driver must be made
                 active by hand (`triton.runtime.driver.set_active(CPUDriver())`).
  triton-cpu     Triton's CPU fork: `TRITON_CPU_BACKEND=1` before `import triton` selects its driver;
                 it has no linalg step (native runs only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str
    backend_dirs: tuple[str, ...]  # under triton/backends/
    tool_names: tuple[str, ...]  # TTIR -> linalg tool, looked up in the backend dir (and bin/)
    tool_env: str  # env var that may name the tool
    tool_args: tuple[str, ...]
    dists: tuple[str, ...]  # distributions whose version identifies the fork
    linalg_stages: tuple[str, ...]  # the fork's own pipeline stage(s) whose output is linalg
    pre_import_env: tuple[tuple[str, str], ...] = ()
    driver_module: str = ""  # module with a CPUDriver to activate by hand


FLAVORS = {
    "smt": Flavor("smt", ("spine_triton",), ("spine-triton-opt",), "SPINE_TRITON_OPT_PATH",
                  ("--triton-to-linalg-experimental",), ("spine-triton", "spine_triton", "triton"),
                  ("linalgdir", "linalg", "ttlinalgir")),
    "triton-shared": Flavor("triton-shared", ("triton_shared", "cpu"), ("triton-shared-opt",),
                            "TRITON_SHARED_OPT_PATH", ("--triton-to-linalg-experimental",),
                            ("triton-shared", "triton_shared", "triton"), ("ttsharedir",),
                            driver_module="triton.backends.triton_shared.driver"),
    "triton-cpu": Flavor("triton-cpu", ("cpu",), (), "", (), ("triton-cpu", "triton_cpu", "triton"), (),
                         pre_import_env=(("TRITON_CPU_BACKEND", "1"),)),
}
