r"""Gradient clipping by the global norm, as torch's ``torch.nn.utils.clip_grad_norm_``.

All gradients are treated as one long vector: its norm is the norm of the per-array norms,

.. math:: N = \Big\| \big(\|g_1\|_q, \|g_2\|_q, \dots\big) \Big\|_q, \qquad
    g_i \leftarrow g_i \cdot \min\Big(1, \frac{\mathrm{max\_norm}}{N + 10^{-6}}\Big)

so clipping shortens the whole step without turning it: every array is scaled by the same
factor. The 1e-6 keeps the division finite when every gradient is zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["clip_grad_norm"]


def clip_grad_norm(grads: Mapping[str, Any], max_norm: float, norm_type: float = 2.0) -> float:
    r"""Scale every array of ``grads`` in place so their global norm is at most ``max_norm``.

    Returns the global norm *before* clipping (what torch returns). ``norm_type`` is the
    :math:`q` of the norm: 2 (default), 1, ``math.inf`` (the largest :math:`|g|`) or any
    :math:`q > 0`. Gradients of ``None`` (skipped parameters) are left out, as torch leaves out
    ``p.grad is None``.

    >>> import numpy as np
    >>> grads = {"W": np.array([[3.0, 0.0]]), "b": np.array([4.0])}
    >>> clip_grad_norm(grads, max_norm=1.0)  # sqrt(3^2 + 4^2) = 5
    5.0
    >>> grads["W"].round(6), grads["b"].round(6)  # both scaled by 1 / (5 + 1e-6)
    (array([[0.6, 0. ]]), array([0.8]))
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f"clip_grad_norm(grads, ...) takes a dict of arrays, got "
                        f"{type(grads).__name__}")
    for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"clip_grad_norm: {name} must be a real number, got {value!r}")
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm!r}")
    if math.isnan(norm_type) or norm_type <= 0:
        raise ValueError(f"clip_grad_norm: norm_type must be > 0 (or math.inf), got "
                         f"{norm_type!r}")
    arrays = {k: g for k, g in grads.items() if g is not None}
    for key, g in arrays.items():
        if not isinstance(g, np.ndarray) or not np.issubdtype(g.dtype, np.floating):
            kind = g.dtype if isinstance(g, np.ndarray) else type(g).__name__
            raise TypeError(f"grads[{key!r}] must be a floating-point NumPy array (it is scaled "
                            f"in place), got {kind}")
        if not g.flags.writeable:
            raise ValueError(f"grads[{key!r}] is read-only; it must be scaled in place")
    if not arrays:
        return 0.0
    norms = np.array([np.linalg.norm(g.reshape(-1), ord=norm_type) for g in arrays.values()])
    total = float(np.linalg.norm(norms, ord=norm_type))
    coef = min(float(max_norm) / (total + 1e-6), 1.0)
    if coef < 1.0:
        for g in arrays.values():
            g *= coef
    return total
