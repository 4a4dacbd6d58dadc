"""The optional GPU path: the same kernel on CuPy gives the same answers (skipped without a
CUDA device); without CuPy, asking for the GPU is refused with a clear message."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from everydonor.adapters.search.runner import patient_from_text
from everydonor.errors import InputError
from everydonor.unrelated.search import plan_search, predict_rows
from tests.unrelated.conftest import grimm_patients


def _cupy_with_device():  # type: ignore[no-untyped-def]
    try:
        from everydonor.adapters.search.gpu import array_module

        return array_module()
    except InputError:
        return None


def test_without_cupy_the_gpu_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from everydonor.adapters.search import gpu

    real = importlib.import_module

    def no_cupy(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "cupy":
            raise ImportError("no cupy here")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(gpu.importlib, "import_module", no_cupy)
    with pytest.raises(InputError, match="needs CuPy"):
        gpu.array_module()


@pytest.mark.skipif(_cupy_with_device() is None, reason="no CuPy / CUDA device here")
def test_gpu_kernel_gives_the_cpu_answers(wmda_store, wmda_fs, reducer) -> None:  # type: ignore[no-untyped-def]
    cupy = _cupy_with_device()
    for pid in ("P000001", "P000003"):
        plan = plan_search(patient_from_text(grimm_patients()[pid], reducer),
                           wmda_store.dictionaries(), wmda_fs, 2)
        for cols in wmda_store.genotype_columns():
            rows = np.arange(cols[0].size, dtype=np.int64)
            cpu = predict_rows(plan, cols, rows)
            gpu = predict_rows(plan, cols, rows, xp=cupy)
            assert np.array_equal(cpu.categories, gpu.categories)
            assert np.allclose(cpu.probs, gpu.probs, rtol=0, atol=1e-12, equal_nan=True)
            assert np.allclose(cpu.loci, gpu.loci, rtol=0, atol=1e-12, equal_nan=True)
