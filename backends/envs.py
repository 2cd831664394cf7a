"""Python environments that backends run in, so the orchestrator never imports triton.

Stock `triton`, `triton-ascend` and spine-triton all install a package named `triton`, so each
backend version lives in its own interpreter:

* a *managed* env is a venv under `$TRITONDIFF_HOME/envs/<name>` (default
  `~/.cache/tritondiff/envs`), created with `python -m venv` and pip-installed from a pinned
  requirement list. Creation is idempotent and serialised by a file lock, so two campaigns that
  start together build it once. A marker file records the requirement list: a changed pin
  rebuilds the env, and an env built by hand (no marker) whose installed distributions already
  match every pin is adopted as it is.
* an *external* env is a path to an existing Python that already has the backend (a GPU box,
  an Ascend or SpacemiT machine with vendor toolkits). tritondiff never installs into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EnvError", "EnvRow", "EnvSpec", "ensure_env", "env_dir", "envs_home", "home", "is_installed",
           "list_envs", "python_path", "remove_env"]

MARKER = "tritondiff-env.json"
PIP_TAIL_LINES = 30


class EnvError(RuntimeError):
    """An environment could not be found or built; the message says what to do about it."""


@dataclass(frozen=True)
class EnvSpec:
    """Where a backend's Python comes from: a managed venv (`requirements`) or an external one."""

    name: str
    requirements: tuple[str, ...] = ()
    external_python: str | None = None
    extra_pip_args: tuple[str, ...] = field(default=())
    # Managed envs whose site-packages this one also sees (a .pth file), e.g. one torch shared
    # by every triton release: pip then finds those pins satisfied and installs only the rest.
    shared: tuple[EnvSpec, ...] = field(default=())
    # Set for backends that only run in an env the user points at (no registry here has them):
    # what to install and which flag to pass, said when no external python was given.
    external_only: str = ""

    @property
    def managed(self) -> bool:
        return self.external_python is None

    def describe(self) -> str:
        if self.managed and self.external_only:
            return f"external env required: {self.external_only}"
        if self.managed:
            return f"managed env {self.name!r} ({' '.join(self.requirements)})"
        return f"external python {self.external_python}"


def home() -> Path:
    """Root of tritondiff's caches: `$TRITONDIFF_HOME`, default `~/.cache/tritondiff`."""
    env = os.environ.get("TRITONDIFF_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tritondiff"


def envs_home() -> Path:
    return home() / "envs"


def env_dir(spec: EnvSpec) -> Path | None:
    """The venv directory of a managed env; None for an external one."""
    return envs_home() / spec.name if spec.managed and not spec.external_only else None


def python_path(spec: EnvSpec) -> Path:
    """The interpreter a worker for this env is started with (it may not exist yet)."""
    if spec.external_python is not None:
        return Path(spec.external_python)
    if spec.external_only:
        raise EnvError(spec.external_only)
    d = env_dir(spec)
    assert d is not None
    return d / "bin" / "python"


def _marker_ok(spec: EnvSpec) -> bool:
    d = env_dir(spec)
    if d is None:
        return False
    try:
        data = json.loads((d / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return data.get("requirements") == list(spec.requirements) and python_path(spec).exists()


def is_installed(spec: EnvSpec) -> bool:
    """True when the env can start a worker now, without building anything."""
    if spec.external_only and spec.managed:
        return False
    if not spec.managed:
        p = python_path(spec)
        return p.is_file() and os.access(p, os.X_OK)
    return _marker_ok(spec)


def ensure_env(spec: EnvSpec, log: Callable[[str], None] | None = None) -> Path:
    """Return the env's python, building the managed venv first if needed."""
    if spec.external_only and spec.managed:
        raise EnvError(spec.external_only)
    py = python_path(spec)
    if not spec.managed:
        if not py.exists():
            raise EnvError(f"external python {py} does not exist (check --env-python)")
        if not os.access(py, os.X_OK):
            raise EnvError(f"external python {py} is not executable")
        return py
    if _marker_ok(spec):
        _touch_used(spec)
        return py
    envs_home().mkdir(parents=True, exist_ok=True)
    with _file_lock(envs_home() / f".{spec.name}.lock"):
        if _marker_ok(spec):  # another process built it while we waited
            return py
        d = env_dir(spec)
        assert d is not None
        hand_built = not (d / MARKER).exists()
        if hand_built and py.exists() and _pins_satisfied(py, spec.requirements):
            _write_marker(spec, adopted=True)
            return py
        _build(spec, log or (lambda msg: print(msg, file=sys.stderr)))
    return py


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _base_python() -> str:
    """Interpreter that venvs are created from: `$TRITONDIFF_PYTHON` or the running one."""
    return os.environ.get("TRITONDIFF_PYTHON") or sys.executable or "python3"


def _build(spec: EnvSpec, log: Callable[[str], None]) -> None:
    d = env_dir(spec)
    assert d is not None
    if d.exists():
        log(f"tritondiff: rebuilding {spec.describe()} (requirements changed or install incomplete)")
        shutil.rmtree(d)
    else:
        log(f"tritondiff: creating {spec.describe()} in {d}")
    base = _base_python()
    if shutil.which(base) is None and not Path(base).exists():
        raise EnvError(f"cannot create venvs: base python {base!r} not found (set TRITONDIFF_PYTHON)")
    pip_log = envs_home() / f"{spec.name}.pip.log"
    with open(pip_log, "w") as out:
        rc = subprocess.call([base, "-m", "venv", str(d)], stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            shutil.rmtree(d, ignore_errors=True)
            raise EnvError(f"`{base} -m venv {d}` failed (exit {rc}):\n{_tail(pip_log)}")
        try:
            _link_shared(spec, d, log)
        except EnvError:
            shutil.rmtree(d, ignore_errors=True)
            raise
        cmd = [str(d / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
               "--no-input", *spec.extra_pip_args, *spec.requirements]
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        t0 = time.monotonic()
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        shutil.rmtree(d, ignore_errors=True)
        raise EnvError(f"pip install failed for env {spec.name!r} (exit {rc}); "
                       f"requirements: {' '.join(spec.requirements)}\n"
                       f"last lines of {pip_log}:\n{_tail(pip_log)}")
    _write_marker(spec, adopted=False)
    log(f"tritondiff: env {spec.name!r} ready in {time.monotonic() - t0:.0f}s")


def site_packages(py: Path) -> Path:
    """The purelib directory of an interpreter (where a .pth file takes effect)."""
    try:
        res = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvError(f"cannot ask {py} for its site-packages: {e}") from None
    if res.returncode != 0 or not res.stdout.strip():
        raise EnvError(f"cannot ask {py} for its site-packages: {res.stderr.strip()[-300:]}")
    return Path(res.stdout.strip())


def _link_shared(spec: EnvSpec, d: Path, log: Callable[[str], None]) -> None:
    """Build the shared envs first, then point this venv at their site-packages."""
    if not spec.shared:
        return
    lines = []
    for base in spec.shared:
        lines.append(str(site_packages(ensure_env(base, log))))
    (site_packages(d / "bin" / "python") / "tritondiff-shared.pth").write_text("\n".join(lines) + "\n")


USED = ".tritondiff-last-used"


def _touch_used(spec: EnvSpec) -> None:
    """Record that the env served a backend (for `tritondiff envs --remove-unused`)."""
    d = env_dir(spec)
    if d is None:
        return
    with contextlib.suppress(OSError):
        (d / USED).touch()
    for base in spec.shared:
        _touch_used(base)


def _write_marker(spec: EnvSpec, adopted: bool) -> None:
    d = env_dir(spec)
    assert d is not None
    tmp = d / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"requirements": list(spec.requirements), "adopted": adopted,
                               "shared": [b.name for b in spec.shared],
                               "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
    tmp.replace(d / MARKER)


def _tail(path: Path, lines: int = PIP_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:==\s*([^\s;]+))?\s*$")

# Runs inside the env: prints the installed version of each distribution named on argv.
_VERSIONS_SCRIPT = """
import json, sys
from importlib import metadata
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


def _pins_satisfied(py: Path, requirements: tuple[str, ...]) -> bool:
    """Whether an env built without our marker already has every pinned distribution.

    Only `name` and `name==version` requirements can be checked; anything else forces a rebuild.
    A local version label (`2.13.0+cpu`) satisfies a pin without one, as in PEP 440.
    """
    pins: dict[str, str | None] = {}
    for req in requirements:
        m = _PIN.match(req)
        if not m:
            return False
        pins[m.group(1)] = m.group(2)
    try:
        res = subprocess.run([str(py), "-c", _VERSIONS_SCRIPT, *pins], capture_output=True,
                             text=True, timeout=60)
        found = json.loads(res.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False
    for name, want in pins.items():
        have = found.get(name)
        if have is None:
            return False
        if want is not None and have.split("+", 1)[0] != want.split("+", 1)[0]:
            return False
    return True


@dataclass
class EnvRow:
    """One managed env on disk, for `tritondiff envs`."""

    name: str
    path: str
    bytes: int
    requirements: list[str]
    shared: list[str]  # shared envs it links
    used_by: list[str]  # envs that link it
    created: str
    last_used: float | None  # epoch seconds of the last backend start, if recorded


def _dir_bytes(d: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(d):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def list_envs(sizes: bool = True) -> list[EnvRow]:
    """Every managed env under envs_home(), with sizes and who shares what."""
    rows: list[EnvRow] = []
    if not envs_home().is_dir():
        return rows
    for d in sorted(envs_home().iterdir()):
        if not d.is_dir() or d.name.startswith("."):
            continue
        try:
            data = json.loads((d / MARKER).read_text())
        except (OSError, ValueError):
            data = {}
        used = d / USED
        rows.append(EnvRow(d.name, str(d), _dir_bytes(d) if sizes else 0, list(data.get("requirements", [])),
                           list(data.get("shared", [])), [], str(data.get("created", "?")),
                           used.stat().st_mtime if used.exists() else None))
    by_name = {r.name: r for r in rows}
    for r in rows:
        for s in r.shared:
            if s in by_name:
                by_name[s].used_by.append(r.name)
    return rows


def remove_env(name: str) -> None:
    """Delete a managed env; a shared env still linked by another env is refused."""
    if not re.fullmatch(r"[A-Za-z0-9_.+\-]+", name):
        raise EnvError(f"{name!r} is not an env name")
    rows = {r.name: r for r in list_envs(sizes=False)}
    if name not in rows:
        raise EnvError(f"no managed env {name!r} under {envs_home()} (see `tritondiff envs`)")
    users = rows[name].used_by
    if users:
        raise EnvError(f"env {name!r} is shared by {', '.join(users)}: remove those first")
    with _file_lock(envs_home() / f".{name}.lock"):
        shutil.rmtree(envs_home() / name)
    with contextlib.suppress(OSError):
        (envs_home() / f"{name}.pip.log").unlink()


# Tools a worker imports only in some modes (atheris: `fuzz --guided`), installed into an env
# after it is built. They are not pins of the env: adding one must not rebuild every env.
WORKER_TOOLS = {"atheris": "atheris>=2.3"}
_HAVE_TOOL: set[tuple[str, str]] = set()


def has_module(py: Path, module: str) -> bool:
    """Whether the interpreter `py` can import `module` (asked in a subprocess)."""
    try:
        return subprocess.run([str(py), "-c", f"import {module}"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_tool(spec: EnvSpec, module: str, log: Callable[[str], None] | None = None) -> Path:
    """Make `module` (a key of WORKER_TOOLS) importable in the env's python; returns that python.

    A managed env gets it with pip, under the env's lock; an external env is never installed
    into, so it must already have it (the message says what to run).
    """
    py = ensure_env(spec, log)
    if (str(py), module) in _HAVE_TOOL or has_module(py, module):
        _HAVE_TOOL.add((str(py), module))  # a restarted guided worker does not ask again
        return py
    req = WORKER_TOOLS[module]
    if not spec.managed:
        raise EnvError(f"{py} cannot import {module}: run `{py} -m pip install '{req}'`")
    with _file_lock(envs_home() / f".{spec.name}.lock"):
        if has_module(py, module):
            return py
        (log or (lambda msg: print(msg, file=sys.stderr)))(f"tritondiff: installing {req} into env {spec.name!r}")
        pip_log = envs_home() / f"{spec.name}.{module}.pip.log"
        with open(pip_log, "w") as out:
            rc = subprocess.call([str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                                  *spec.extra_pip_args, req], stdout=out, stderr=subprocess.STDOUT)
        if rc != 0 or not has_module(py, module):
            raise EnvError(f"installing {req} into env {spec.name!r} failed (exit {rc}); "
                           f"last lines of {pip_log}:\n{_tail(pip_log)}")
    return py
