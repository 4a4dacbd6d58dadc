"""The optional GPU path: the match-probability kernel on CuPy.

:func:`everydonor.unrelated.prediction.mismatch_sums` is written against an array namespace;
on a machine with a CUDA device and CuPy installed (``pip install cupy-cuda12x``), passing CuPy
runs the same operations there. Imputation stays on the CPU. CuPy is not a dependency: without
it, asking for the GPU is refused with a message saying what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from everydonor.errors import InputError


def array_module() -> ModuleType:
    """CuPy, when it imports and sees a CUDA device; otherwise a clear refusal."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        raise InputError("--device gpu needs CuPy (pip install cupy-cuda12x) and a CUDA "
                         "device; run without it on the CPU", field="--device",
                         value="gpu") from None
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own types
        raise InputError(f"--device gpu: CuPy found no usable CUDA device ({exc})",
                         field="--device", value="gpu") from None
    if count < 1:
        raise InputError("--device gpu: no CUDA device", field="--device", value="gpu")
    return cupy
