"""Hand-built kernels for oracle tests: a spec plus buffers, packaged like generated cases."""

from generators.constructs.examples import make_case

__all__ = ["make_case"]
