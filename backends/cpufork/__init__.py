"""CPU-device Triton forks (spine-triton's SMT, triton-shared, triton-cpu), in an env you point at.

See docs/smt.md. `runner.run_case` is the worker entry point; its linalg path executes through
the shared executor (backends/linalg_exec), like the Ascend backend.
"""
