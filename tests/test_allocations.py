"""A step allocates nothing parameter-sized once the state exists (tracemalloc sees NumPy).

The state buffers and the block scratch are created by the first step; every later step must
work in place. Allocating a fresh array per step costs more than the arithmetic on large models.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from course_lib import _base
from course_lib.optimizers import make_optimizer
from tests.reference_numpy import CONFIGS, config_id

N = 1_000_000
SCRATCH_ROWS, BLOCK = 3, _base.BLOCK  # three block-sized scratch rows per dtype


def traced_peak(action) -> int:
    """The peak of memory newly allocated (and traced) while ``action()`` runs, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def test_tracemalloc_sees_numpy_arrays():
    # Without this the tests below could pass by not measuring anything.
    assert traced_peak(lambda: np.ones(N)) >= 8 * N


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_no_parameter_sized_allocation_after_the_first_step(name, hyper, dtype):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal(N).astype(dtype)}
    grads = [{"w": rng.standard_normal(N).astype(dtype)} for _ in range(2)]
    opt = make_optimizer(name, **hyper)
    nbytes = params["w"].nbytes

    first = traced_peak(lambda: opt.update(params, grads[0]))
    buffers = len(opt.buffers)
    scratch = SCRATCH_ROWS * BLOCK * params["w"].itemsize
    # The first step creates the state and the scratch, and nothing else of that size.
    assert first <= buffers * nbytes + scratch + nbytes // 8, (
        f"first step allocated {first / 2**20:.1f} MiB for {buffers} buffers of "
        f"{nbytes / 2**20:.1f} MiB")

    def later_steps():
        """Steps 2-5, with the lr changing between them."""
        for k in range(4):
            opt.lr = opt.lr * (0.5 if k % 2 else 2.0)  # a schedule must not allocate either
            opt.update(params, grads[k % 2])

    later = traced_peak(later_steps)
    assert later < nbytes // 8, f"steps 2-5 allocated {later / 2**20:.2f} MiB at peak"


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_non_contiguous_parameter_allocates_nothing_after_the_first_step(name, hyper):
    # A transposed view is updated whole (flattening it would copy); its scratch must still be
    # reused from step to step, not allocated anew.
    rng = np.random.default_rng(1)
    base = rng.standard_normal((500, 2000))
    params = {"w": base.T}
    grads = {"w": rng.standard_normal((500, 2000)).T}
    assert not params["w"].flags.c_contiguous
    opt = make_optimizer(name, **hyper)
    opt.update(params, grads)
    later = traced_peak(lambda: [opt.update(params, grads) for _ in range(3)])
    assert later < params["w"].nbytes // 8, f"steps 2-4 allocated {later / 2**20:.2f} MiB"
