"""Backend names parse into the right family, version, options, env and runner."""

from __future__ import annotations

import pytest

from backends.registry import UnknownBackend, list_backends, resolve


@pytest.mark.parametrize("name,canonical,family,version", [
    ("interpreter", "interpreter@3.9.0", "interpreter", "3.9.0"),
    ("interpreter@3.0.0", "interpreter@3.0.0", "interpreter", "3.0.0"),
    ("cuda", "cuda@3.9.0:sm_90", "cuda", "3.9.0"),
    ("cuda@3.1.0", "cuda@3.1.0:sm_90", "cuda", "3.1.0"),
    ("cuda:sm_89", "cuda@3.9.0:sm_89", "cuda", "3.9.0"),
    ("cuda@3.4.0:sm_80", "cuda@3.4.0:sm_80", "cuda", "3.4.0"),
    ("hip", "hip@3.9.0:gfx942", "hip", "3.9.0"),
    ("hip:gfx90a", "hip@3.9.0:gfx90a", "hip", "3.9.0"),
    ("ascend", "ascend@3.2.0:Ascend910B3", "ascend", "3.2.0"),
    ("ascend@3.2.0rc4", "ascend@3.2.0rc4:Ascend910B3", "ascend", "3.2.0rc4"),
    ("fault-hang", "fault-hang@3.9.0", "fault", "3.9.0"),
])
def test_names_resolve(name: str, canonical: str, family: str, version: str) -> None:
    cfg = resolve(name)
    assert (cfg.name, cfg.family, cfg.version) == (canonical, family, version)
    assert resolve(cfg.name) == cfg  # canonical names are fixed points


def test_options_env_and_runner() -> None:
    cuda = resolve("cuda@3.4.0:sm_80")
    assert cuda.options == {"family": "cuda", "arch": "sm_80", "capability": 80, "warp_size": 32}
    assert cuda.env.name == "triton-3.4.0" and "triton==3.4.0" in cuda.env.requirements
    assert cuda.runner == "backends.triton_runner"
    assert cuda.capabilities.compile and not cuda.capabilities.execute
    hip = resolve("hip:gfx90a")
    assert hip.options["arch"] == "gfx90a" and hip.options["warp_size"] == 64
    interp = resolve("interpreter")
    assert interp.capabilities.execute and "bf16" in interp.capabilities.dtypes
    # cuda and interpreter of one release share an env
    assert resolve("interpreter@3.4.0").env == cuda.env
    asc = resolve("ascend@3.2.0rc2")
    assert asc.runner == "backends.ascend.runner"
    assert asc.env.requirements == ("triton-ascend==3.2.0rc2", "pybind11", "numpy")
    fault = resolve("fault-mask2d")
    assert fault.runner == "backends.faults" and fault.options["fault"] == "mask2d"


def test_old_interpreters_pin_numpy_1() -> None:
    assert "numpy<2" in resolve("interpreter@3.1.0").env.requirements
    assert "numpy" in resolve("interpreter@3.2.0").env.requirements


def test_external_python() -> None:
    cfg = resolve("cuda", env_python="/usr/bin/python3")
    assert not cfg.env.managed and cfg.python == "/usr/bin/python3"


@pytest.mark.parametrize("bad,needle", [
    ("metal", "known: interpreter, cuda, hip, ascend"),
    ("fault-nothing", "fault-hang"),
    ("cuda:gfx90a", "expected sm_NN"),
    ("hip:sm_90", "expected gfxNNN"),
    ("interpreter:sm_90", "takes no arch"),
    ("cuda@latest", "bad version"),
    ("cuda:sm_90:extra", "cannot parse"),
])
def test_unknown_names_are_clear(bad: str, needle: str) -> None:
    with pytest.raises(UnknownBackend, match=needle):
        resolve(bad)


def test_list_backends_reports_envs() -> None:
    rows = {r.name: r for r in list_backends()}
    assert "interpreter@3.9.0" in rows and "cuda@3.9.0:sm_89" in rows and "fault-hang@3.9.0" in rows
    assert rows["interpreter@3.9.0"].env.endswith("envs/triton-3.9.0")
    assert isinstance(rows["hip@3.9.0:gfx942"].installed, bool)
