"""Where tensors live (the GPU when there is one, or ``$UNLEARNBOOK_DEVICE``, else the CPU) and
what the CPU computes natively (bf16 or not)."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
from torch import nn

#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: AVX-512 BF16 or AMX.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def default_device() -> torch.device:
    """``$UNLEARNBOOK_DEVICE`` if set (e.g. ``cpu``, ``cuda:1``), else CUDA when available."""
    name = os.environ.get("UNLEARNBOOK_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's parameters (CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX; read from
    ``/proc/cpuinfo``). Elsewhere bf16 autocast is emulated and slower than fp32 (measured 10x
    slower on a 2-core AMD EPYC with AVX2 only), so the fast path falls back to fp32
    (:func:`unlearnbook.train.resolve`). ``$UNLEARNBOOK_CPU_BF16`` (0 or 1) overrides the
    detection."""
    forced = os.environ.get("UNLEARNBOOK_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    return _cpuinfo_bf16()


@functools.lru_cache(maxsize=None)
def _cpuinfo_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def precision_for(device: torch.device, requested: str) -> tuple[str, str]:
    """The precision a training loop uses on ``device`` for a ``requested`` one ("auto",
    "fp32" or "bf16"), and why when it differs: "auto" is bf16 on CUDA and on CPUs with native
    bf16, fp32 elsewhere; "bf16" on a CPU without native bf16 falls back to fp32."""
    device = torch.device(device)
    native = device.type == "cuda" or (device.type == "cpu" and cpu_bf16_native())
    if requested == "fp32":
        return "fp32", ""
    if native:
        return "bf16", ""
    note = ("bf16 requested but this CPU has no native bf16 (no avx512_bf16 / amx_bf16): "
            "fp32 used") if requested == "bf16" else ""
    return "fp32", note
