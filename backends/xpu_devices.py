"""Device properties of the Intel GPUs the `xpu` backends compile for (no such GPU is needed).

Why a table: triton-xpu's `GPUTarget("xpu", arch, warp_size)` takes as `arch` the dict that
its driver builds from the SYCL device at run time (`torch.xpu.get_device_capability()`), and
the compiler reads from it the sub-group sizes (the DPAS execution width and the threads per
warp of a kernel with dots), 2D block IO (block-pointer loads), DPAS and bf16 conversions.
Without a device, tritondiff supplies what the real device reports:

* `architecture`: the SYCL `ext::oneapi::experimental::architecture` value
  (sycl/ext/oneapi/experimental/device_architecture.def: intel_gpu_pvc = 0x030f000700,
  intel_gpu_bmg_g21 = 0x0500400400), which the backend's arch parser maps to "pvc"/"bmg";
* the counts and sizes as SYCL's device info queries report them (Max 1550 in the default FLAT
  hierarchy, where each of its two stacks is one device of 64 Xe cores x 8 EUs; Arc B580: 20
  Xe2 cores x 8 EUs);
* the `has_*` flags from the OpenCL extensions the device lists
  (cl_intel_subgroup_2d_block_io, cl_intel_subgroup_matrix_multiply_accumulate[_tensor_float32],
  cl_intel_bfloat16_conversions): both archs have 2D block IO, DPAS and bf16 conversions; only
  PVC has TF32 DPAS.

This module runs in the orchestrator and never imports triton.
"""

from __future__ import annotations

from typing import Any

__all__ = ["XPU_DEVICES"]

_COMMON: dict[str, Any] = {
    "platform_name": "Intel(R) oneAPI Unified Runtime over Level-Zero",
    "vendor": "Intel(R) Corporation",
    "max_work_group_size": 1024,
    "max_num_sub_groups": 64,
    "sub_group_sizes": [16, 32],
    "has_fp16": True,
    "has_fp64": True,
    "has_atomic64": True,
    "has_subgroup_matrix_multiply_accumulate": True,
    "has_subgroup_2d_block_io": True,
    "has_bfloat16_conversions": True,
}

XPU_DEVICES: dict[str, dict[str, Any]] = {
    # Data Center GPU Max 1550 (Ponte Vecchio, Xe-HPC), one stack.
    "pvc": {**_COMMON, "name": "Intel(R) Data Center GPU Max 1550", "architecture": 0x030F000700,
            "version": "12.60.7", "gpu_eu_count": 512, "gpu_subslice_count": 64,
            "has_subgroup_matrix_multiply_accumulate_tensor_float32": True},
    # Arc B580 (Battlemage G21, Xe2-HPG): the current client discrete GPU.
    "bmg": {**_COMMON, "name": "Intel(R) Arc(TM) B580 Graphics", "architecture": 0x0500400400,
            "version": "20.1.4", "gpu_eu_count": 160, "gpu_subslice_count": 20,
            "has_subgroup_matrix_multiply_accumulate_tensor_float32": False},
}
