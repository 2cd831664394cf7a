"""Parsing of the CLI's list-valued options, with errors that say what was wrong and what is valid."""

from __future__ import annotations

import json
from pathlib import Path

MAX_SEED = 2**42  # campaign_seed * 1_000_003 + index must stay a 64-bit SQLite integer


class UsageError(Exception):
    """A bad option value; the CLI prints the message and exits with status 2."""


def split_list(text: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    if not text:
        return []
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_backends(text: str | None) -> list[str]:
    names = split_list(text)
    if not names:
        raise UsageError("--backends needs at least one backend name (see `tritondiff backends`)")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"--backends names {', '.join(dup)} more than once")
    return names


def check_seed(seed: int) -> int:
    if not -MAX_SEED < seed < MAX_SEED:
        raise UsageError(f"--seed must be between -{MAX_SEED} and {MAX_SEED}, got {seed}")
    return seed


def parse_weights(text: str | None, exclude: str | None = None,
                  known: list[str] | None = None) -> dict[str, float] | None:
    """`--weights 'f=w,...'` or a JSON file of {feature: weight}, then `--exclude` sets weight 0.

    Returns None when neither option is given, so the generator uses its own defaults.
    """
    weights: dict[str, float] = {}
    if text:
        path = Path(text)
        if text.endswith(".json") or (path.exists() and path.is_file()):
            try:
                raw = json.loads(path.read_text())
            except OSError as e:
                raise UsageError(f"--weights: cannot read {path}: {e.strerror or e}") from e
            except json.JSONDecodeError as e:
                raise UsageError(f"--weights: {path} is not valid JSON: {e}") from e
            if not isinstance(raw, dict):
                raise UsageError(f"--weights: {path} must hold a JSON object {{feature: weight}}")
            items = list(raw.items())
        else:
            items = []
            for part in split_list(text):
                name, sep, value = part.partition("=")
                if not sep or not name.strip():
                    raise UsageError(f"--weights: expected 'feature=weight', got {part!r}")
                items.append((name.strip(), value.strip()))
        for name, value in items:
            try:
                w = float(value)
            except (TypeError, ValueError):
                raise UsageError(f"--weights: weight of {name!r} is not a number: {value!r}") from None
            if not w >= 0 or w == float("inf"):
                raise UsageError(f"--weights: weight of {name!r} must be finite and >= 0, got {value!r}")
            weights[str(name)] = w
    for name in split_list(exclude):
        weights[name] = 0.0
    if known is not None:
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise UsageError(f"unknown feature(s) {', '.join(unknown)} in --weights/--exclude; "
                             f"known features: {', '.join(known)}")
    return weights or None


def parse_place(items: list[str]) -> dict[str, str]:
    """`--place cuda=any --place hip=ROCM` -> {"cuda": "any", "hip": "ROCM"} (names checked later)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, res = (x.strip() for x in item.partition("="))
        if not sep or not name or not res:
            raise UsageError(f"--place {item!r}: expected BACKEND=RESOURCE (e.g. cuda=GPU) or BACKEND=any")
        if not all(c.isalnum() or c in "_-" for c in res):
            raise UsageError(f"--place {item!r}: a resource is a name such as GPU or NPU, or 'any'")
        out[name] = res
    return out
