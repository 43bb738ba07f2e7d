r"""Full-matrix AdaGrad: a preconditioner that turns with the problem.

The course's AdaGrad, RMSProp and Adam divide each coordinate by its own number, a *diagonal*
preconditioner. Duchi, Hazan and Singer (2011, "Adaptive Subgradient Methods for Online
Learning and Stochastic Optimization", JMLR 12) also give the full-matrix version, which keeps
the sum of the outer products of the gradients:

.. math::
    G \leftarrow G + g g^\top, \qquad
    p \leftarrow p - \mathrm{lr}\,(\epsilon I + G^{1/2})^{-1} g

(the paper's :math:`H_t = \delta I + G_t^{1/2}` with :math:`\delta` = ``eps``). In one
dimension :math:`G = s` and this is ``course_lib.AdaGrad`` exactly, ``eps`` outside the root.
It costs :math:`n^2` memory and an :math:`n \times n` eigendecomposition per step for a
parameter of ``n`` entries, so it is for small problems only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib._base import Hyper, Optimizer

__all__ = ["FullMatrixAdaGrad"]


class FullMatrixAdaGrad(Optimizer):
    r"""AdaGrad with the full matrix :math:`G = \sum_t g_t g_t^\top` of each parameter.

    .. math::
        G \leftarrow G + g g^\top, \qquad
        p \leftarrow p - \mathrm{lr}\,(\epsilon I + G^{1/2})^{-1} g

    ``opt.state[key]["G"]`` is an ``n`` x ``n`` matrix for a parameter of ``n`` entries (the
    flattened parameter). :math:`G^{1/2}` comes from ``np.linalg.eigh``. Eigenvalues below
    ``n`` machine epsilons times the largest count as zero, as in ``np.linalg.pinv``: ``g`` has
    no component there, since :math:`G \succeq g g^\top`, so only round-off is dropped.

    On the first step :math:`G = g g^\top` and :math:`G^{1/2} g = |g|\, g`, so the step is
    ``lr`` times the unit vector along ``g`` (up to ``eps``):

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> FullMatrixAdaGrad(lr=0.5).update(params, {"w": np.array([3.0, 4.0])})
    >>> params["w"].round(6)  # moved 0.5 along (3, 4) / 5
    array([0.7, 0.6])
    """

    name = "fullmatrixadagrad"
    eps = Hyper(0.0)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10) -> None:
        super().__init__(lr)
        self.eps = eps

    def update(self, params: Any, grads: Any) -> None:
        """One step on every parameter, in place; checks everything before changing anything."""
        grads = self._checked(params, grads)
        for key, p in params.items():
            old = self.state.get(key)
            if old is not None and old["G"].shape != (p.size, p.size):
                raise ValueError(f"params[{key!r}] has {p.size} entries but its optimizer "
                                 f"state G has shape {old['G'].shape}")
        self.t += 1
        for key, p in params.items():
            g = grads[key]
            if g is None:
                continue
            state = self.state.setdefault(key, {"t": 0, "G": np.zeros((p.size, p.size))})
            state["t"] += 1
            flat = np.asarray(g, dtype=float).reshape(-1)
            state["G"] += np.outer(flat, flat)  # G = G + g g^T
            p -= self.lr * self.precondition(state["G"], flat).reshape(p.shape).astype(p.dtype)

    def precondition(self, G: np.ndarray, g: np.ndarray) -> np.ndarray:
        """(eps I + G^{1/2})^{-1} g, through the eigendecomposition G = U diag(w) U^T."""
        w, U = np.linalg.eigh(G)
        keep = w > G.shape[0] * np.finfo(float).eps * max(w.max(), 0.0)
        root = np.sqrt(w[keep])  # the eigenvalues of G^{1/2}
        return U[:, keep] @ ((U[:, keep].T @ g) / (root + self.eps))

    def load_state_dict(self, sd: Any) -> None:
        """Not supported: the base class restores buffers shaped like the parameter only."""
        raise NotImplementedError("FullMatrixAdaGrad keeps an n x n matrix per parameter; "
                                  "load_state_dict is not supported")
