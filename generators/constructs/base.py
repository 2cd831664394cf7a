"""The construct registry: one class per language construct, owning every facet of it.

Why one place: adding a construct used to touch the type checker, the generator, the renderer,
the reference evaluator, feature analysis, the reducer and the backend profiles, and nothing
checked that all of them were done. Here a construct is one subclass of `Construct` in one module
of this package (Csmith's one class per construct; NNSmith's op that owns its type rule). The
type checker, renderer, reference, feature walker, reducer, validator and capability profiles all
dispatch on the registry, and `tests/test_registry.py` fails when a construct lacks a facet.

Facets of a construct:
- `fields`: the JSON fields of its node and what each may hold (untrusted corpus files are
  validated against this before anything runs);
- `typeof` / `check`: its type rule (expressions / statements);
- `render`: its Triton source;
- `evaluate` / `run`: its numpy semantics with UB checks (the reference evaluator);
- `features` + `find_features`: the feature names it can produce and when it does;
- `simplify`: simpler replacement nodes for the reducer (an empty generator is a deliberate answer);
- `knobs`: weight knobs beyond its features; `since`: first release per backend family that has
  it (capability profiles consult it); `lacks`: backend families that cannot run it, with why;
- `example`: a minimal kernel using it, so the registry test (and backend profile probes) can
  type-check, render and evaluate every construct.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from generators.case import KernelCase
    from generators.spec import Ty

Node = dict[str, Any]

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Names the rendered module itself binds or that would shadow what the kernel calls.
RESERVED = frozenset({"tl", "triton", "range", "min", "max", "abs", "len", "print", "int", "float",
                      "bool", "None", "True", "False", "__import__", "eval", "exec", "open"})


def valid_ident(name: Any) -> bool:
    """A name that can only ever be a plain Python identifier in the rendered source."""
    return (isinstance(name, str) and bool(IDENT_RE.match(name)) and not keyword.iskeyword(name)
            and name not in RESERVED and not name.startswith("__"))


# ---- field kinds: what a node's JSON field may hold ----
@dataclass(frozen=True)
class Field:
    """One JSON field of a node. `kind` is one of the names below; `values` bounds it."""

    kind: str  # expr | exprs | block | ident | idents | int | num | bool | dtype | enum | shape
    optional: bool = False
    values: tuple[Any, ...] = ()
    lo: int | None = None
    hi: int | None = None


def expr_f(optional: bool = False) -> Field:
    return Field("expr", optional)


def exprs_f(lo: int = 0, hi: int = 8) -> Field:
    return Field("exprs", lo=lo, hi=hi)


def block_f() -> Field:
    return Field("block")


def ident_f(optional: bool = False) -> Field:
    return Field("ident", optional)


def idents_f(lo: int = 0, hi: int = 8) -> Field:
    """A list of lo..hi identifiers (a helper's parameters, a tuple assignment's names)."""
    return Field("idents", lo=lo, hi=hi)


def int_f(lo: int, hi: int, optional: bool = False) -> Field:
    return Field("int", optional, lo=lo, hi=hi)


def num_f(optional: bool = False) -> Field:
    return Field("num", optional)


def bool_f(optional: bool = True) -> Field:
    return Field("bool", optional)


def dtype_f(values: tuple[str, ...], optional: bool = False) -> Field:
    return Field("dtype", optional, values)


def enum_f(values: tuple[Any, ...], optional: bool = False) -> Field:
    return Field("enum", optional, values)


def shape_f(max_rank: int = 3, max_dim: int = 4096, min_rank: int = 1) -> Field:
    return Field("shape", lo=1, hi=max_dim, values=(max_rank, min_rank))


@dataclass(frozen=True)
class ExprProduction:
    """One way the generator builds an expression of a dtype and shape (Csmith's generation facet).

    `build(g, leaves, dt, shape, depth)` returns a generator TV or None when the draw would leave
    the safe value range; `knob` is the campaign weight (a feature name) that scales `weight`."""

    name: str
    weight: float
    build: Callable[..., Any]
    knob: str | None = None
    floats: bool | None = None  # True: float dtypes only; False: integers only; None: both
    dtypes: tuple[str, ...] = ()  # restrict to these dtypes
    min_rank: int = 0
    # Unsigned, fp8 and int1 values are opt-in: a production meets them only where it says so
    # (listing them in `dtypes`, or exotic=True), so a construct written before a dtype existed
    # never receives operands its type rule refuses.
    exotic: bool = False

    def applies(self, dt: str, shape: tuple[int, ...]) -> bool:
        from generators.spec import FLOAT_DTYPES, FP8_DTYPES, UINT_DTYPES

        if (dt in UINT_DTYPES or dt in FP8_DTYPES or dt == "int1") and not (self.exotic or dt in self.dtypes):
            return False
        if self.floats is not None and (dt in FLOAT_DTYPES) != self.floats:
            return False
        return (not self.dtypes or dt in self.dtypes) and len(shape) >= self.min_rank


class Construct:
    """Base class: subclasses set the class attributes and override the facets they have."""

    name: ClassVar[str] = ""  # registry key (module-unique)
    node: ClassVar[str] = ""  # the node's tag: value of "e" (expressions) or "s" (statements)
    kind: ClassVar[str] = "expr"  # "expr" | "stmt"
    fields: ClassVar[dict[str, Field]] = {}
    features: ClassVar[tuple[str, ...]] = ()
    knobs: ClassVar[tuple[str, ...]] = ()
    # Arithmetic on the node's result dtype (bf16 arithmetic is beyond the interpreter).
    computes: ClassVar[bool] = False
    # Backend family -> first release that has the construct (e.g. {"triton": "3.2.0"}).
    since: ClassVar[dict[str, str]] = {}
    # Backend family -> first release that no longer has it (removed APIs, e.g. block pointers).
    until: ClassVar[dict[str, str]] = {}
    # Backend family -> why it cannot run the construct at all.
    lacks: ClassVar[dict[str, str]] = {}
    # The same, for one feature of the construct only (feature -> {family or family:arch -> ...}),
    # e.g. fp64 dots arrived in triton 3.5 while the construct's other features are older.
    feature_since: ClassVar[dict[str, dict[str, str]]] = {}
    feature_lacks: ClassVar[dict[str, dict[str, str]]] = {}
    # Field naming a variable the statement binds for its body (loops), for substitution.
    binds: ClassVar[str | None] = None
    # How the generator's expression trees can produce this construct.
    productions: ClassVar[tuple[ExprProduction, ...]] = ()

    # ---- type rule ----
    def typeof(self, n: Node, tc: Any) -> Ty:
        """Expressions: the node's (dtype, shape); raise SpecError when ill-typed."""
        raise NotImplementedError(self.name)

    def check(self, s: Node, tc: Any) -> None:
        """Statements: type-check and update tc.env."""
        raise NotImplementedError(self.name)

    # ---- rendering ----
    def render(self, n: Node, r: Any) -> str:
        """Expressions: Triton source text."""
        raise NotImplementedError(self.name)

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        """Statements: append lines to r.lines."""
        raise NotImplementedError(self.name)

    # ---- reference semantics ----
    def evaluate(self, n: Node, p: Any) -> Any:
        """Expressions: a reference `Val` for one program `p`; raise UndefinedBehaviour."""
        raise NotImplementedError(self.name)

    def run(self, s: Node, p: Any, path: str) -> None:
        """Statements: execute on program `p`."""
        raise NotImplementedError(self.name)

    # ---- features ----
    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        """Add the features this node uses to fw.found (the walker recurses into children)."""
        raise NotImplementedError(self.name)

    # ---- reduction ----
    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        """Simpler candidates for this node, each with the name of the move."""
        raise NotImplementedError(self.name)

    # ---- example ----
    def example(self) -> KernelCase:
        """A minimal valid kernel that uses this construct."""
        raise NotImplementedError(self.name)

    # ---- generic structure (from `fields`) ----
    def children(self, n: Node) -> Iterator[tuple[tuple[Any, ...], Node]]:
        """(path within the node, sub-expression) for every expression slot, in field order."""
        for key, f in self.fields.items():
            v = n.get(key)
            if f.kind == "expr" and isinstance(v, dict):
                yield (key,), v
            elif f.kind == "exprs" and isinstance(v, list):
                for i, x in enumerate(v):
                    if isinstance(x, dict):
                        yield (key, i), x

    def blocks(self, s: Node) -> Iterator[tuple[str, list[Node]]]:
        """(field, statement list) for every nested block of a statement."""
        for key, f in self.fields.items():
            if f.kind == "block" and isinstance(s.get(key), list):
                yield key, s[key]


# ---- the registry ----
EXPRS: dict[str, Construct] = {}
STMTS: dict[str, Construct] = {}
ALL: dict[str, Construct] = {}


def register(cls: type[Construct]) -> type[Construct]:
    """Class decorator: instantiate and index a construct by its node tag."""
    inst = cls()
    table = EXPRS if cls.kind == "expr" else STMTS
    if not cls.name or not cls.node:
        raise ValueError(f"{cls.__name__}: a construct needs a name and a node tag")
    if cls.node in table or cls.name in ALL:
        raise ValueError(f"construct {cls.name!r} / node {cls.node!r} registered twice")
    table[cls.node] = inst
    ALL[cls.name] = inst
    return cls


def expr_construct(tag: Any) -> Construct:
    from generators.spec import SpecError

    c = EXPRS.get(tag) if isinstance(tag, str) else None
    if c is None:
        raise SpecError(f"unknown expression node {tag!r}")
    return c


def stmt_construct(tag: Any) -> Construct:
    from generators.spec import SpecError

    c = STMTS.get(tag) if isinstance(tag, str) else None
    if c is None:
        raise SpecError(f"unknown statement {tag!r}")
    return c


def construct_of(node: Node) -> Construct:
    return expr_construct(node.get("e")) if "e" in node else stmt_construct(node.get("s"))


def expr_productions() -> list[ExprProduction]:
    """Every expression production of every construct, in registry order."""
    return [p for c in ALL.values() for p in c.productions]


def feature_owners() -> dict[str, list[Construct]]:
    """Feature name -> constructs that can produce it."""
    out: dict[str, list[Construct]] = {}
    for c in ALL.values():
        for f in c.features:
            out.setdefault(f, []).append(c)
    return out


Hook = Callable[..., Any]
