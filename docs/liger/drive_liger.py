"""Calls every public liger-kernel op forward and backward on small CPU tensors (for capture).

Run under `tritondiff capture` (docs/liger/README.md): liger-kernel's own tests use shapes far
above the capture size cap and start slowly, so this script drives the library's public functional
API (liger_kernel.transformers.functional) once per op instead. An op the interpreter cannot run
is reported in one line and the others go on.
"""

import sys
import traceback

import liger_kernel.transformers.functional as F  # noqa: N812
import torch

torch.manual_seed(0)


def t(*shape, grad=True, dtype=torch.float32):
    x = torch.randn(*shape, dtype=dtype)
    return x.requires_grad_(grad)


def labels(n, v):
    return torch.randint(0, v, (n,))


OPS = {
    "rms_norm": lambda: F.liger_rms_norm(t(4, 64), t(64), 1e-6, in_place=False),
    "rms_norm_gemma": lambda: F.liger_rms_norm(t(4, 64), t(64), 1e-6, offset=1.0, casting_mode="gemma",
                                               in_place=False),
    "layer_norm": lambda: F.liger_layer_norm(t(4, 64), t(64), t(64), 1e-6),
    "swiglu": lambda: F.liger_swiglu(t(4, 64), t(4, 64)),
    "geglu": lambda: F.liger_geglu(t(4, 64), t(4, 64)),
    "relu_squared": lambda: F.liger_relu_squared(t(4, 64)),
    "softmax": lambda: F.liger_softmax(t(4, 32)),
    "sparsemax": lambda: F.liger_sparsemax(t(4, 32)),
    "dyt": lambda: F.liger_dyt(t(4, 64), t(1), t(64), t(64)),
    "cross_entropy": lambda: F.liger_cross_entropy(t(8, 32), labels(8, 32)),
    "cross_entropy_smooth_z": lambda: F.liger_cross_entropy(t(8, 32), labels(8, 32), label_smoothing=0.1,
                                                            lse_square_scale=1e-4, reduction="sum"),
    "fused_linear_cross_entropy": lambda: F.liger_fused_linear_cross_entropy(t(8, 32), t(64, 32), labels(8, 64)),
    "jsd": lambda: F.liger_jsd(t(8, 32).log_softmax(-1), t(8, 32, grad=False).log_softmax(-1)),
    "kl_div": lambda: F.liger_kl_div(t(8, 32).log_softmax(-1), t(8, 32, grad=False).softmax(-1)),
    "tvd": lambda: F.liger_tvd(t(8, 32).softmax(-1), t(8, 32, grad=False).softmax(-1)),
    "fused_linear_jsd": lambda: F.liger_fused_linear_jsd(t(8, 32), t(64, 32), t(8, 32, grad=False),
                                                         t(64, 32, grad=False)),
    "fused_linear_kl_div": lambda: F.liger_fused_linear_kl_div(t(8, 32), t(64, 32), t(8, 64, grad=False)),
    "group_norm": lambda: F.liger_group_norm(t(2, 8, 16), t(8), t(8), 8, 4, 1e-6),
    "poly_norm": lambda: F.liger_poly_norm(t(4, 64), t(3), t(1), in_place=False),
    "fused_add_rms_norm": lambda: F.liger_fused_add_rms_norm(t(4, 64), t(4, 64), t(64), 1e-6, in_place=False),
    "rope": lambda: F.liger_rope(t(1, 2, 8, 16), t(1, 2, 8, 16), torch.randn(1, 8, 16), torch.randn(1, 8, 16)),
    "qwen2vl_mrope": lambda: F.liger_qwen2vl_mrope(t(1, 2, 8, 16), t(1, 2, 8, 16), torch.randn(3, 1, 8, 16),
                                                   torch.randn(3, 1, 8, 16), [2, 3, 3]),
    "multi_token_attention": lambda: F.liger_multi_token_attention(t(1, 2, 8, 8), t(2, 2, 3, 3), padding=1),
    "modulated_rms_norm": lambda: F.liger_modulated_rms_norm(t(2, 4, 64), t(64), t(2, 64), t(2, 64), 1e-6),
    "attn_res": lambda: F.liger_attn_res(t(3, 2, 4, 64), t(64), t(64)),
    "mhc_pre": lambda: F.liger_mhc_pre(t(2, 4, 4, 32), t(2, 4, 4)),
    "mhc_post_res": lambda: F.liger_mhc_post_res(t(2, 4, 4, 32), t(2, 4, 32), t(2, 4, 4), t(2, 4, 4, 4)),
    "fused_neighborhood_attention": lambda: F.liger_fused_neighborhood_attention(
        t(1, 2, 16, 16), t(1, 2, 16, 16), t(1, 2, 16, 16), kernel_size=3),
}


def backward(out):
    outs = out if isinstance(out, (tuple, list)) else [getattr(out, "loss", out)]
    loss = sum(o.float().sum() for o in outs if isinstance(o, torch.Tensor) and o.requires_grad)
    if isinstance(loss, torch.Tensor):
        loss.backward()


def main():
    failed = 0
    for name, op in OPS.items():
        try:
            backward(op())
            print(f"ok    {name}")
        except Exception as e:  # report and go on: the capture keeps what launched
            failed += 1
            last = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL  {name}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''} "
                  f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})")
    print(f"{len(OPS) - failed}/{len(OPS)} ops ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
