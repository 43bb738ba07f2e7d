r"""Small neural networks in NumPy, with every forward and backward pass written out.

Each layer remembers what its backward pass needs during ``forward`` and turns the gradient of
the loss with respect to its output (``dout``) into the gradient with respect to its input.
A network is a list of layers plus a loss; ``net.params`` is a ``dict[str, ndarray]`` holding
the SAME arrays the layers compute with, so an optimizer's in-place ``update(net.params,
grads)`` trains the network.

Dtypes never mix silently: a network is float32 or float64 throughout, and an input of another
dtype raises a ``TypeError`` that says how to cast it (``x.astype(net.dtype)``).

>>> import numpy as np
>>> net = MLP([2, 3, 2], seed=0)
>>> x, t = np.array([[0.5, -1.0]]), np.array([1])
>>> grads = net.gradient(x, t)
>>> sorted(grads) == sorted(net.params)
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from course_lib.flat import pack

__all__ = ["Affine", "ReLU", "Sigmoid", "Tanh", "SoftmaxCrossEntropy", "MeanSquaredError",
           "MLP", "TwoLayerNet", "ACTIVATIONS", "LOSSES", "numerical_gradient",
           "gradient_check"]


# ----- layers ---------------------------------------------------------------------------
class Affine:
    r"""A fully connected (linear) layer: :math:`y = x W + b`.

    Backward: :math:`\partial L/\partial W = x^T\, dout`, :math:`\partial L/\partial b =
    \sum_{\text{rows}} dout`, :math:`\partial L/\partial x = dout\, W^T`.
    ``W`` and ``b`` are the caller's arrays (not copies). Given ``dW`` and ``db`` arrays (a
    network's gradient buffer), backward writes the gradients into them instead of into new
    arrays each step.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, dW: np.ndarray | None = None,
                 db: np.ndarray | None = None) -> None:
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.grad_out = dW, db  # where backward writes dW and db (None: new arrays)
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (batch, in) -> x W + b (batch, out)."""
        self.x = x
        out = x @ self.W
        out += self.b  # in place: one new array per layer, not two
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Store dW and db; return the gradient with respect to x (None if not ``need_dx``).

        The first layer's dx is the gradient for the input pixels, which training never uses:
        skipping it saves one of the layer's three matrix products.
        """
        self.dW = np.matmul(self.x.T, dout, out=self.grad_out[0])  # x^T dout
        self.db = np.sum(dout, axis=0, out=self.grad_out[1])
        return dout @ self.W.T if need_dx else None


class ReLU:
    r""":math:`\max(0, x)`; the gradient passes where the input was positive, else it is 0."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Elementwise max(0, x)."""
        self.mask = x > 0
        # maximum and the product below are about 10x faster than np.where(mask, x, 0), whose
        # per-element branch the CPU mispredicts on a random mask.
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout where x > 0, else 0 (multiplying by the mask of True/False)."""
        return dout * self.mask


class Sigmoid:
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, whose derivative is :math:`\sigma(1 - \sigma)`."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Elementwise sigmoid."""
        # Equal to 1 / (1 + exp(-x)), but exp never overflows for large negative x.
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout * sigma * (1 - sigma), from the stored output."""
        return dout * self.out * (1.0 - self.out)


class Tanh:
    r""":math:`\tanh(x)`, whose derivative is :math:`1 - \tanh^2(x)`."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Elementwise tanh."""
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout * (1 - tanh^2), from the stored output."""
        return dout * (1.0 - self.out**2)


class SoftmaxCrossEntropy:
    r"""Softmax of the scores followed by the mean cross-entropy over the batch.

    .. math:: L = -\frac1N \sum_n \sum_k t_{nk} \log \mathrm{softmax}(s_n)_k, \qquad
              \frac{\partial L}{\partial s} = \frac{\mathrm{softmax}(s) - t}{N}

    ``t`` is either integer class labels of shape (N,) or one-hot / probability rows (N, K).
    The two passes are fused because together their gradient is this simple.
    """

    def __init__(self) -> None:
        self.probs: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, scores: np.ndarray, t: np.ndarray) -> float:
        """The mean cross-entropy; keeps the softmax probabilities for backward."""
        shifted = scores - scores.max(axis=1, keepdims=True)  # exp cannot overflow
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs, self.t = np.exp(log_probs), t
        n = scores.shape[0]
        if t.ndim == 1:  # sum / n: the same number as .mean(), at a quarter of its cost
            return float(-log_probs[np.arange(n), t].sum() / n)
        return float(-(t * log_probs).sum() / n)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """(softmax - t) / N, times ``dout``."""
        n = self.probs.shape[0]
        if self.t.ndim == 1:
            grad = self.probs.copy()
            grad[np.arange(n), self.t] -= 1
        else:
            grad = self.probs - self.t
        return grad * (dout / n)


class MeanSquaredError:
    r"""The mean of the squared differences over every element: :math:`L = \mathrm{mean}((y -
    t)^2)`, so :math:`\partial L / \partial y = 2 (y - t) / \mathrm{size}`.

    Seed 001's linear-regression loss and torch's ``MSELoss()``.
    """

    def __init__(self) -> None:
        self.diff: np.ndarray | None = None

    def forward(self, y: np.ndarray, t: np.ndarray) -> float:
        """mean((y - t)^2)."""
        self.diff = y - t
        return float(np.mean(self.diff**2))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """2 (y - t) / size, times ``dout``."""
        return self.diff * (2.0 * dout / self.diff.size)


ACTIVATIONS: dict[str, type] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
LOSSES: dict[str, type] = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
# He initialisation keeps ReLU activations' variance constant; Xavier (in the 1/fan_in form of
# "Deep Learning from Scratch") does the same for sigmoid and tanh, which are linear near 0.
INIT_GAIN = {"relu": 2.0, "sigmoid": 1.0, "tanh": 1.0}
FLOATS = (np.float32, np.float64)


# ----- networks -------------------------------------------------------------------------
class MLP:
    """A multilayer perceptron: Affine -> activation -> ... -> Affine, then a loss.

    ``sizes`` lists the layer widths from input to output, e.g. ``[64, 100, 10]``.
    ``weight_init`` is ``"auto"`` (He for ReLU, Xavier for sigmoid/tanh) or a fixed standard
    deviation. Biases start at 0. ``params`` has keys ``W1, b1, W2, b2, ...``.
    ``loss`` is ``"cross_entropy"`` (classification; ``predict`` gives scores) or ``"mse"``
    (regression; ``MLP([1, 1], loss="mse")`` is a linear model).

    ``flat=True`` keeps all parameters in one buffer and all gradients in another
    (:func:`course_lib.flat.pack`): the numbers are the same, but an optimizer then updates
    every parameter in one pass, and backward writes the gradients into the same arrays every
    step instead of new ones (copy a gradient to keep it past the next step).
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", seed: int = 0,
                 dtype: Any = np.float64, weight_init: str | float = "auto",
                 loss: str = "cross_entropy", flat: bool = False) -> None:
        self.sizes = _checked_sizes(sizes)
        self.activation = _choice("activation", activation, ACTIVATIONS)
        self.loss_name = _choice("loss", loss, LOSSES)
        self.dtype = _checked_dtype(dtype)
        self.seed = seed
        stds = _init_stds(self.sizes, self.activation, weight_init)
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        self.layers: list = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True), 1):
            # Draw in float64 so float32 and float64 nets of one seed start at the same point.
            W = (stds[i - 1] * rng.standard_normal((n_in, n_out))).astype(self.dtype)
            b = np.zeros(n_out, dtype=self.dtype)
            self.params[f"W{i}"], self.params[f"b{i}"] = W, b
            self.layers.append(Affine(W, b))
            if i < len(self.sizes) - 1:
                self.layers.append(ACTIVATIONS[self.activation]())
        self.last_layer = LOSSES[self.loss_name]()
        if not isinstance(flat, (bool, np.bool_)):
            raise TypeError(f"flat must be True or False, got {flat!r}")
        self.flat = bool(flat)
        if self.flat:
            self._pack()

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.sizes)
        flat = ", flat=True" if self.flat else ""
        return (f"{type(self).__name__}({sizes}, activation={self.activation!r}, "
                f"loss={self.loss_name!r}, dtype={self.dtype.name}{flat})")

    def _pack(self) -> None:
        """Move the parameters into one buffer, and give backward one buffer for the gradients."""
        self.params = pack(self.params)
        grads = pack({k: np.zeros_like(p) for k, p in self.params.items()})
        for i, layer in enumerate(self.affine_layers(), 1):
            layer.W, layer.b = self.params[f"W{i}"], self.params[f"b{i}"]
            layer.grad_out = grads[f"W{i}"], grads[f"b{i}"]

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After copy.deepcopy or unpickling: a flat network's views became separate arrays."""
        self.__dict__.update(state)
        if self.__dict__.setdefault("flat", False):
            self._pack()

    @property
    def n_classes(self) -> int:
        """The width of the output layer."""
        return self.sizes[-1]

    # ----- the public API ---------------------------------------------------------------
    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output scores (logits for cross-entropy, predictions for MSE), shape (N, out)."""
        return self._forward(self.check_x(x))

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """The mean loss on the batch ``(x, t)``."""
        return self.last_layer.forward(self.predict(x), self.check_t(t, len(x)))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The gradient of :meth:`loss` for every parameter, by backpropagation (same keys)."""
        return self.loss_and_gradient(x, t)[1]

    def loss_and_gradient(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict]:
        """The loss and its gradient from one forward and one backward pass."""
        x = self.check_x(x)
        return self.forward_backward(x, self.check_t(t, len(x)))

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """The fraction of rows whose highest score is the true class (classification only)."""
        if self.loss_name != "cross_entropy":
            raise ValueError(f"accuracy needs a classification net (loss='cross_entropy'), "
                             f"this one has loss={self.loss_name!r}")
        return self.evaluate(x, t)[1]

    def evaluate(self, x: np.ndarray, t: np.ndarray) -> tuple[float, float | None]:
        """The loss and the accuracy (None for a regression net) from one forward pass."""
        x = self.check_x(x)
        t = self.check_t(t, len(x))
        scores = self._forward(x)
        loss = self.last_layer.forward(scores, t)
        if self.loss_name != "cross_entropy":
            return loss, None
        labels = t if t.ndim == 1 else t.argmax(axis=1)
        return loss, float(np.mean(scores.argmax(axis=1) == labels))

    def copy(self) -> MLP:
        """An independent network with equal weights (for fair comparisons)."""
        return copy.deepcopy(self)  # deepcopy keeps params and layers sharing the same arrays

    def load_params(self, values: Mapping[str, np.ndarray]) -> None:
        """Copy ``values`` into the parameters in place (all keys and shapes checked first)."""
        if set(values) != set(self.params):
            raise KeyError(f"load_params needs exactly the keys {sorted(self.params)}, "
                           f"got {sorted(values)}")
        arrays = {k: np.asarray(v) for k, v in values.items()}
        for k, v in arrays.items():
            if v.shape != self.params[k].shape:
                raise ValueError(f"values[{k!r}] has shape {v.shape}, "
                                 f"expected {self.params[k].shape}")
        for k, v in arrays.items():
            np.copyto(self.params[k], v, casting="same_kind")

    # ----- the two passes, unchecked (train() checks the data once, up front) -----------
    def forward_backward(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict]:
        """Loss and gradients for input already checked by :meth:`check_x`/:meth:`check_t`."""
        loss = self.last_layer.forward(self._forward(x), t)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        self.layers[0].backward(dout, need_dx=False)  # nothing uses the input's gradient
        grads = {}
        for i, layer in enumerate(self.affine_layers(), 1):
            grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        return loss, grads

    def affine_layers(self) -> list[Affine]:
        """The Affine layers, in order (layer i holds W{i} and b{i})."""
        return [layer for layer in self.layers if isinstance(layer, Affine)]

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._check_params_intact()
        for layer in self.layers:
            x = layer.forward(x)
        return x

    # ----- checks -----------------------------------------------------------------------
    def check_x(self, x: Any, name: str = "x") -> np.ndarray:
        """``x`` as an array of shape (N, sizes[0]) and the net's dtype, finite, or an error."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (N >= 1, {self.sizes[0]}) for this "
                             f"{self.sizes[0]}-input network, got shape {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but the network is {self.dtype.name}; "
                            f"cast explicitly with {name}.astype(np.{self.dtype.name})")
        _check_finite(name, x)
        return x

    def check_t(self, t: Any, n: int, name: str = "t") -> np.ndarray:
        """``t`` checked against the loss: labels in range, one-hot rows, or regression targets."""
        t = np.asarray(t)
        if self.loss_name == "mse":
            return self._check_targets(t, n, name)
        k = self.n_classes
        if t.ndim == 1 and t.shape[0] == n:
            return _check_labels(t, k, name)
        if t.ndim == 2 and t.shape == (n, k):
            return self._check_one_hot(t, name)
        raise ValueError(f"{name} must be {n} integer labels, shape ({n},), or one-hot rows, "
                         f"shape ({n}, {k}); got shape {t.shape}")

    def _check_one_hot(self, t: np.ndarray, name: str) -> np.ndarray:
        if t.dtype != self.dtype:
            t = self._cast_exact(t, name)
        _check_finite(name, t)
        sums = t.sum(axis=1)
        bad = np.flatnonzero((t < 0).any(axis=1) | (np.abs(sums - 1) > 1e-6))
        if bad.size:
            raise ValueError(f"{name} rows must be one-hot (or probabilities) summing to 1; "
                             f"row {bad[0]} is {t[bad[0]].tolist()}")
        return t

    def _check_targets(self, t: np.ndarray, n: int, name: str) -> np.ndarray:
        if t.shape != (n, self.sizes[-1]):
            raise ValueError(f"{name} must have shape ({n}, {self.sizes[-1]}) to match the "
                             f"network's output, got {t.shape}")
        if t.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but the network is {self.dtype.name}; "
                            f"cast explicitly with {name}.astype(np.{self.dtype.name})")
        _check_finite(name, t)
        return t

    def _cast_exact(self, t: np.ndarray, name: str) -> np.ndarray:
        """One-hot rows of 0/1 in any numeric dtype convert exactly; others must match."""
        if np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.bool_):
            return t.astype(self.dtype)
        raise TypeError(f"{name} has dtype {t.dtype} but the network is {self.dtype.name}; "
                        f"cast explicitly with {name}.astype(np.{self.dtype.name})")

    def _check_params_intact(self) -> None:
        for i, layer in enumerate(self.affine_layers(), 1):
            for key, arr in ((f"W{i}", layer.W), (f"b{i}", layer.b)):
                if self.params.get(key) is not arr:
                    raise RuntimeError(
                        f"net.params[{key!r}] was replaced by another array, but the layers "
                        f"still use the old one; update in place (params[{key!r}][...] = "
                        f"value) or call net.load_params(...)")


class TwoLayerNet(MLP):
    """The two-layer network of "Deep Learning from Scratch": Affine-ReLU-Affine-softmax.

    Weights start as ``weight_init_std * N(0, 1)`` (0.01 as in the book), biases at 0;
    ``params`` holds ``W1, b1, W2, b2``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 weight_init_std: float = 0.01, seed: int = 0, dtype: Any = np.float64) -> None:
        super().__init__([input_size, hidden_size, output_size], activation="relu", seed=seed,
                         dtype=dtype, weight_init=weight_init_std)


# ----- gradient checking ----------------------------------------------------------------
def numerical_gradient(f: Callable[[], float], params: Mapping[str, np.ndarray],
                       eps: float = 1e-5) -> dict[str, np.ndarray]:
    r"""Central differences :math:`(f(p + \epsilon) - f(p - \epsilon)) / 2\epsilon`, one element
    at a time, for every array in ``params``.

    ``f`` takes no arguments and reads the arrays of ``params``, which are nudged in place and
    restored exactly. Use float64: in float32 the differences drown in round-off.

    >>> x = np.array([1.0, -2.0])
    >>> numerical_gradient(lambda: float(np.sum(x**2)), {"x": x})["x"].round(6)
    array([ 2., -4.])
    """
    if not (isinstance(eps, float) and eps > 0):
        raise ValueError(f"eps must be a float > 0, got {eps!r}")
    grads = {}
    for key, p in params.items():
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise TypeError(f"params[{key!r}] must be a floating-point array to be nudged")
        g = np.zeros(p.shape, dtype=np.float64)
        flat, gflat = p.reshape(-1), g.reshape(-1)  # views (params are contiguous), so f sees it
        if not np.shares_memory(flat, p):
            raise ValueError(f"params[{key!r}] must be contiguous so it can be nudged in place")
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        grads[key] = g
    return grads


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| divided by the size of the gradient, max|a| + max|b| (at least 1e-12).

    Scaling by the whole array rather than element by element keeps tiny entries, whose central
    differences are all round-off, from hiding a correct gradient.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1e-12, float(np.abs(a).max(initial=0) + np.abs(b).max(initial=0)))
    return float(np.abs(a - b).max(initial=0)) / scale


def gradient_check(net: MLP, x: np.ndarray, t: np.ndarray,
                   eps: float = 1e-5) -> dict[str, float]:
    """Compare backprop with central differences; the max relative error per parameter.

    Below about 1e-7 in float64 means the backward pass is right. ``net.params`` are restored.
    """
    x = net.check_x(x)
    t = net.check_t(t, len(x))
    analytic = net.forward_backward(x, t)[1]
    numeric = numerical_gradient(lambda: net.last_layer.forward(net._forward(x), t),
                                 net.params, eps)
    return {k: relative_error(analytic[k], numeric[k]) for k in net.params}


# ----- argument checks ------------------------------------------------------------------
def _checked_sizes(sizes: Any) -> list[int]:
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1
                       for s in sizes)):
        raise ValueError(f"sizes must list at least two layer widths >= 1 (input ... output), "
                         f"got {sizes!r}")
    return [int(s) for s in sizes]


def _choice(name: str, value: Any, options: Mapping[str, Any]) -> str:
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {sorted(options)}")
    return value


def _checked_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOATS:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return dt


def _init_stds(sizes: list[int], activation: str, weight_init: Any) -> list[float]:
    if weight_init == "auto":
        return [float(np.sqrt(INIT_GAIN[activation] / n_in)) for n_in in sizes[:-1]]
    if (isinstance(weight_init, (int, float)) and not isinstance(weight_init, bool)
            and np.isfinite(weight_init) and weight_init > 0):
        return [float(weight_init)] * (len(sizes) - 1)
    raise ValueError(f"weight_init must be 'auto' or a standard deviation > 0, "
                     f"got {weight_init!r}")


def _check_finite(name: str, a: np.ndarray) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/inf value(s); the first is "
                         f"{a[where]!r} at index {where}")


def _check_labels(t: np.ndarray, k: int, name: str) -> np.ndarray:
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{name} holds class labels and must be an integer array, got dtype "
                        f"{t.dtype} (one-hot labels need shape (N, {k}))")
    bad = (t < 0) | (t >= k)
    if bad.any():
        raise ValueError(f"{name} labels must lie in [0, {k - 1}] for {k} classes; "
                         f"out of range: {np.unique(t[bad])[:10].tolist()}")
    return t
