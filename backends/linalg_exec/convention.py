"""How a lowered kernel is called: what the executor passes to `_mlir_ciface_<kernel>`.

Why its own module: each frontend family (triton-ascend's adapter, a CPU fork's TTIR -> linalg
tool) derives the convention from its own kernel signature, but the executor only needs the
result: how many leading `memref<?xi8>` workspace descriptors, then one rank-1 descriptor per
pointer argument and scalars by value in signature order, then six i32 (grid x/y/z, program id
x/y/z). A pointer declared `memref<*xT>` travels as the unranked descriptor {rank 1, pointer
to the rank-1 descriptor}.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "ptr" | "scalar"
    dtype: str  # wire dtype
    buffer: str | None = None
    value: int | float | None = None


@dataclass(frozen=True)
class Convention:
    kernel: str
    n_leading: int  # memref<?xi8> descriptors before the pointer arguments
    params: tuple[Param, ...]  # pointers and scalars actually passed, in order
    arg_types: tuple[str, ...]  # MLIR types of every argument, for the record
    unranked: tuple[str, ...] = ()  # pointer params declared `memref<*xT>` (triton-shared style)

    def describe(self) -> str:
        ps = ", ".join(f"{p.name}:{p.kind}:{p.dtype}" + (":unranked" if p.name in self.unranked else "")
                       for p in self.params)
        return f"{self.kernel}: {self.n_leading} leading i8 memref(s); {ps}; 6 x i32 grid/pid"

    def to_wire(self) -> dict:
        """Builtin values only, for the executor's frames."""
        return {"kernel": self.kernel, "n_leading": self.n_leading, "arg_types": list(self.arg_types),
                "params": [[p.name, p.kind, p.dtype, p.buffer, p.value] for p in self.params],
                "unranked": list(self.unranked)}

    @staticmethod
    def from_wire(d: dict) -> Convention:
        return Convention(str(d["kernel"]), int(d["n_leading"]),
                          tuple(Param(*p) for p in d["params"]), tuple(d["arg_types"]),
                          tuple(d.get("unranked", ())))
