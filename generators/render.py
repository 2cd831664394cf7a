"""Render a KernelSpec as a Triton Python source file.

`@triton.jit` must live in a real file (Triton reads the source with `inspect`), so the output is
a whole module: imports plus one kernel function. The text is stable for a given spec, which makes
it part of a case's content hash and of every bug report.
"""

from __future__ import annotations

from typing import Any

from generators.spec import Expr, Stmt, Ty, params_by_name, typeof

TL_DTYPE = {"fp32": "tl.float32", "fp16": "tl.float16", "bf16": "tl.bfloat16", "fp64": "tl.float64",
            "int8": "tl.int8", "int16": "tl.int16", "int32": "tl.int32", "int64": "tl.int64",
            "int1": "tl.int1"}


class _Renderer:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.params = params_by_name(spec)
        self.env: dict[str, Ty] = {}
        self.lines: list[str] = []

    def lit(self, v: int | float, dt: str) -> str:
        if dt == "int1":
            return "True" if v else "False"
        text = repr(float(v)) if dt in ("fp32", "fp16", "bf16", "fp64") else str(int(v))
        return f"({text})" if text.startswith("-") else text

    def e(self, x: Expr) -> str:
        k = x["e"]
        if k in ("arg", "var"):
            return x["name"]
        if k == "const":
            return self.lit(x["v"], x["dt"])
        if k == "pid":
            return f"tl.program_id({x['axis']})"
        if k == "arange":
            return f"tl.arange(0, {x.get('cx') or x['n']})"
        if k == "full":
            if x["v"] == 0 and x.get("zeros", True):
                return f"tl.zeros({x['shape']}, dtype={TL_DTYPE[x['dt']]})"
            return f"tl.full({x['shape']}, {self.lit(x['v'], x['dt'])}, {TL_DTYPE[x['dt']]})"
        if k == "bin":
            return f"({self.e(x['a'])} {x['op']} {self.e(x['b'])})"
        if k == "un":
            return f"({x['op']}{self.e(x['x'])})"
        if k == "call":
            args = ", ".join(self.e(a) for a in x["args"])
            return f"tl.{x['fn']}({args})"
        if k == "where":
            return f"tl.where({self.e(x['c'])}, {self.e(x['a'])}, {self.e(x['b'])})"
        if k == "cast":
            return f"{self._atom(x['x'])}.to({TL_DTYPE[x['dt']]})"
        if k == "expand":
            rank = len(typeof(x["x"], self.env, self.params).shape)
            idx = [":"] * rank
            idx.insert(x["axis"], "None")
            return f"{self._atom(x['x'])}[{', '.join(idx)}]"
        if k == "bcast":
            return f"tl.broadcast_to({self.e(x['x'])}, {tuple(x['shape'])})"
        if k == "reshape":
            return f"tl.reshape({self.e(x['x'])}, {tuple(x['shape'])})"
        if k == "trans":
            return f"tl.trans({self.e(x['x'])})"
        if k == "reduce":
            return f"tl.{x['fn']}({self.e(x['x'])}, axis={x['axis']})"
        if k == "dot":
            args = [self.e(x["a"]), self.e(x["b"])]
            if x.get("acc") is not None:
                args.append(self.e(x["acc"]))
            if x.get("prec"):
                args.append(f"input_precision={x['prec']!r}")
            if typeof(x["a"], self.env, self.params).dtype == "int8":
                args.append("out_dtype=tl.int32")
            return f"tl.dot({', '.join(args)})"
        if k == "load":
            args = [self.e(x["ptr"])]
            if x.get("mask") is not None:
                args.append(f"mask={self.e(x['mask'])}")
            if x.get("other") is not None:
                args.append(f"other={self.e(x['other'])}")
            return f"tl.load({', '.join(args)})"
        raise ValueError(f"cannot render {k}")

    def _atom(self, x: Expr) -> str:
        """Render so that a method call or subscript binds to the whole expression."""
        text = self.e(x)
        if x["e"] in ("arg", "var", "bin", "un") or text.endswith(")") and x["e"] != "const":
            return text
        return f"({text})"

    def stmts(self, body: list[Stmt], indent: int) -> None:
        pad = "    " * indent
        for s in body:
            k = s["s"]
            if k == "let":
                self.lines.append(f"{pad}{s['name']} = {self.e(s['e'])}")
                self.env[s["name"]] = typeof(s["e"], self.env, self.params)
            elif k == "store":
                args = [self.e(s["ptr"]), self.e(s["val"])]
                if s.get("mask") is not None:
                    args.append(f"mask={self.e(s['mask'])}")
                self.lines.append(f"{pad}tl.store({', '.join(args)})")
            elif k == "for":
                it = "tl.static_range" if s["kind"] == "static_range" else "range"
                self.lines.append(f"{pad}for {s['var']} in {it}({self.e(s['lo'])}, {self.e(s['hi'])}):")
                saved = dict(self.env)
                self.env[s["var"]] = Ty("int32")
                n = len(self.lines)
                self.stmts(s["body"], indent + 1)
                if len(self.lines) == n:
                    self.lines.append(f"{pad}    pass")
                self.env = {k2: v for k2, v in self.env.items() if k2 in saved}
            else:
                raise ValueError(f"cannot render statement {k}")

    def module(self) -> str:
        sig = []
        for p in self.spec["params"]:
            sig.append(f"{p['name']}: tl.constexpr" if p["kind"] == "constexpr" else p["name"])
        self.lines = ["import triton", "import triton.language as tl", "", "",
                      "@triton.jit", f"def {self.spec['name']}({', '.join(sig)}):"]
        n = len(self.lines)
        self.stmts(self.spec["body"], 1)
        if len(self.lines) == n:
            self.lines.append("    pass")
        return "\n".join(self.lines) + "\n"


def render(spec: dict[str, Any]) -> str:
    """Triton source of `spec`: a module defining the kernel function `spec['name']`."""
    return _Renderer(spec).module()
