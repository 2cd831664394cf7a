"""Render a KernelSpec as a Triton Python source file.

`@triton.jit` must live in a real file (Triton reads the source with `inspect`), so the output is
a whole module: imports plus one kernel function. The text is stable for a given spec, which makes
it part of a case's content hash and of every bug report. Each node's text comes from its
construct (generators/constructs/); this module holds the module layout and the shared helpers.
"""

from __future__ import annotations

from typing import Any

from generators.constructs import expr_construct, stmt_construct
from generators.spec import Expr, Stmt, Ty, params_by_name, typeof

TL_DTYPE = {"fp32": "tl.float32", "fp16": "tl.float16", "bf16": "tl.bfloat16", "fp64": "tl.float64",
            "int8": "tl.int8", "int16": "tl.int16", "int32": "tl.int32", "int64": "tl.int64",
            "int1": "tl.int1", "uint8": "tl.uint8", "uint16": "tl.uint16", "uint32": "tl.uint32",
            "uint64": "tl.uint64", "fp8e4nv": "tl.float8e4nv", "fp8e5": "tl.float8e5"}
FLOAT_LIKE = ("fp32", "fp16", "bf16", "fp64", "fp8e4nv", "fp8e5")


class Renderer:
    """Module text under construction; constructs call e(), atom(), ty(), lit() and block()."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.params = params_by_name(spec)
        self.env: dict[str, Ty] = {}
        self.lines: list[str] = []
        self.helpers: dict[str, str] = {}  # module-level @triton.jit helpers, by name

    def helper(self, name: str, text: str) -> str:
        """Define a module-level helper (e.g. a scan's combine function) once; returns its name.

        `text` is the whole definition, decorator included; one name always means one text."""
        old = self.helpers.setdefault(name, text)
        if old != text:
            raise ValueError(f"helper {name} defined twice with different text")
        return name

    def lit(self, v: int | float, dt: str) -> str:
        if dt == "int1":
            return "True" if v else "False"
        text = repr(float(v)) if dt in FLOAT_LIKE else str(int(v))
        return f"({text})" if text.startswith("-") else text

    @staticmethod
    def tl_dtype(dt: str) -> str:
        return TL_DTYPE[dt]

    def ty(self, x: Expr) -> Ty:
        return typeof(x, self.env, self.params)

    def e(self, x: Expr) -> str:
        return expr_construct(x["e"]).render(x, self)

    def atom(self, x: Expr) -> str:
        """Render so that a method call or subscript binds to the whole expression."""
        text = self.e(x)
        if x["e"] in ("arg", "var", "bin", "un") or text.endswith(")") and x["e"] != "const":
            return text
        return f"({text})"

    def block(self, body: list[Stmt], indent: int) -> None:
        n = len(self.lines)
        for s in body:
            stmt_construct(s["s"]).render_stmt(s, self, indent)
        if len(self.lines) == n:
            self.lines.append(f"{'    ' * indent}pass")

    def module(self) -> str:
        sig = []
        for p in self.spec["params"]:
            sig.append(f"{p['name']}: tl.constexpr" if p["kind"] == "constexpr" else p["name"])
        self.lines = ["@triton.jit", f"def {self.spec['name']}({', '.join(sig)}):"]
        self.block(self.spec["body"], 1)
        head = ["import triton", "import triton.language as tl", "", ""]
        for text in self.helpers.values():
            head += text.rstrip("\n").split("\n") + ["", ""]
        return "\n".join(head + self.lines) + "\n"


def render(spec: dict[str, Any]) -> str:
    """Triton source of `spec`: a module defining the kernel function `spec['name']`."""
    return Renderer(spec).module()
