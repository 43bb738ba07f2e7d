r"""The optimizers of the course, each one idea away from the one it grows from.

SGD -> Momentum (a velocity) -> AdaGrad (a per-coordinate step from summed squared gradients)
-> RMSProp (forget old squares) -> Adam (Momentum + RMSProp + bias correction), then AdamW,
NAdam, Adadelta, RAdam (a rectified start), Adamax (an infinity norm) and Lion (a sign step).
Each ``step`` works on one block of one parameter, in place, and the update
rule in its docstring uses the course's symbols: ``lr, momentum, v, s, m, beta1, beta2, eps, t``.

They match PyTorch's ``torch.optim`` (single-tensor CPU path) to round-off, for every option;
Lion, which torch lacks, matches optax's ``lion``.
In-place arithmetic (``out=``, ``*=``) keeps a step free of new parameter-sized arrays; each
line's comment gives the math it computes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from course_lib._base import Flag, Hyper, Optimizer, hyperparameter_names

__all__ = ["SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "AdamW", "NAdam", "Adadelta",
           "RAdam", "Adamax", "Lion", "Optimizer", "OPTIMIZERS", "make_optimizer",
           "hyperparameter_names"]



def unit() -> Hyper:
    """The allowed range of Adam's betas: [0, 1) (torch's too)."""
    return Hyper(0.0, 1.0)


class SGD(Optimizer):
    r"""Stochastic gradient descent: step against the gradient.

    .. math:: p \leftarrow p - \mathrm{lr}\, g

    >>> import numpy as np
    >>> params, grads = {"w": np.array([1.0, -2.0])}, {"w": np.array([0.5, 0.5])}
    >>> SGD(lr=0.1).update(params, grads)
    >>> params["w"]
    array([ 0.95, -2.05])
    """

    name = "sgd"
    elementwise = True  # so is every optimizer below: parameters in one buffer take one pass

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)

    def step(self, p, g, state, tmp, tmp2):
        np.multiply(g, self.step_size(state), out=tmp)  # lr * g
        p -= tmp

    def step_size(self, state) -> float:
        """The learning rate of this parameter's step ``state["t"]``: ``lr`` (AdaGrad decays it)."""
        return self.lr


class Momentum(SGD):
    r"""SGD with a velocity ``v`` that accumulates past gradients (the heavy ball).

    .. math::
        v \leftarrow \mathrm{momentum}\, v + g, \qquad p \leftarrow p - \mathrm{lr}\, v

    With ``nesterov=True`` the step looks ahead: :math:`p \leftarrow p - \mathrm{lr}\,(g +
    \mathrm{momentum}\, v)`. This is torch's form; the textbook ``v = momentum*v - lr*g;
    p += v`` gives the same trajectory while lr is constant.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> opt = Momentum(lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.update(params, {"w": np.array([1.0])})
    >>> opt.state["w"]["v"], params["w"]
    (array([1.5]), array([0.75]))
    """

    name = "momentum"
    buffers = ("v",)
    momentum = Hyper(0.0)  # torch accepts any momentum >= 0; below 1 to converge
    nesterov = Flag()

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov
        if nesterov and momentum == 0.0:
            raise ValueError("Momentum: nesterov=True needs momentum > 0, got momentum=0.0")

    def step(self, p, g, state, tmp, tmp2):
        v = state["v"]
        v *= self.momentum  # v = momentum * v + g
        v += g
        if self.nesterov:  # look ahead: step along g + momentum * v
            np.multiply(v, self.momentum, out=tmp2)
            tmp2 += g
            super().step(p, tmp2, state, tmp, None)
        else:
            super().step(p, v, state, tmp, tmp2)


class AdaGrad(SGD):
    r"""SGD with a per-coordinate step: divide by the root of the summed squared gradients.

    .. math::
        s \leftarrow s + g^2, \qquad p \leftarrow p - \mathrm{lr}\, \frac{g}{\sqrt{s} + \epsilon}

    On the first step :math:`g/\sqrt{g^2} = \pm 1`, so every coordinate moves by about ``lr``.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> AdaGrad(lr=0.1).update(params, {"w": np.array([100.0, 0.01])})
    >>> params["w"].round(6)
    array([0.9, 0.9])

    torch's two options: ``initial_accumulator_value`` starts ``s`` there instead of at 0 (the
    first steps are then shorter), and ``lr_decay`` shrinks the learning rate of step ``t``:

    .. math:: \mathrm{lr}_t = \frac{\mathrm{lr}}{1 + (t - 1)\,\mathrm{lr\_decay}}

    >>> params = {"w": np.array([1.0])}
    >>> opt = AdaGrad(lr=0.1, lr_decay=1.0, initial_accumulator_value=3.0)
    >>> for _ in range(2):  # s = 3 + 1 = 4, then 5; lr = 0.1, then 0.1 / 2
    ...     opt.update(params, {"w": np.array([1.0])})
    >>> float(opt.state["w"]["s"][0]), bool(np.isclose(params["w"][0],
    ...     1 - 0.1 / (2 + 1e-10) - 0.05 / (5**0.5 + 1e-10)))
    (5.0, True)
    """

    name = "adagrad"
    buffers = ("s",)
    eps = Hyper(0.0)
    lr_decay = Hyper(0.0)
    initial_accumulator_value = Hyper(0.0)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0,
                 lr_decay: float = 0.0, initial_accumulator_value: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.eps = eps
        self.lr_decay, self.initial_accumulator_value = lr_decay, initial_accumulator_value

    def new_state(self, p):
        """``s`` starts at ``initial_accumulator_value``."""
        state = super().new_state(p)
        state["s"] += self.initial_accumulator_value
        return state

    def step_size(self, state) -> float:
        """lr / (1 + (t - 1) lr_decay): exactly lr when lr_decay = 0."""
        return self.lr / (1.0 + (state["t"] - 1) * self.lr_decay)

    def accumulate(self, s: np.ndarray, g: np.ndarray, tmp: np.ndarray) -> None:
        """s += g^2: AdaGrad remembers every gradient it has seen."""
        np.multiply(g, g, out=tmp)
        s += tmp

    def denominator(self, state, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        """sqrt(s) + eps, written into ``out``: eps OUTSIDE the root."""
        np.sqrt(state["s"], out=out)
        out += self.eps
        return out

    def step(self, p, g, state, tmp, tmp2):
        self.accumulate(state["s"], g, tmp)
        np.divide(g, self.denominator(state, g, tmp), out=tmp)
        SGD.step(self, p, tmp, state, tmp, tmp2)


class RMSProp(AdaGrad):
    r"""AdaGrad that forgets: ``s`` is an exponential moving average of squared gradients.

    .. math::
        s \leftarrow \mathrm{decay\_rate}\, s + (1 - \mathrm{decay\_rate})\, g^2, \qquad
        p \leftarrow p - \mathrm{lr}\, \frac{g}{\sqrt{s} + \epsilon}

    The average covers roughly the last ``1 / (1 - decay_rate)`` steps.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> RMSProp(lr=0.01, decay_rate=0.99).update(params, {"w": np.array([2.0])})
    >>> params["w"].round(6)  # the first step is lr / sqrt(1 - decay_rate) = 0.1
    array([0.9])

    torch's two options. ``centered=True`` divides by an estimate of the gradient's standard
    deviation instead of its root mean square: ``m`` averages the gradients like ``s`` their
    squares, and the root is taken of :math:`s - m^2`. ``momentum > 0`` smooths the steps with
    a velocity ``v``, as :class:`Momentum` smooths gradients:

    .. math::
        m \leftarrow \mathrm{decay\_rate}\, m + (1 - \mathrm{decay\_rate})\, g, \qquad
        v \leftarrow \mathrm{momentum}\, v + \frac{g}{\sqrt{s - m^2} + \epsilon}, \qquad
        p \leftarrow p - \mathrm{lr}\, v

    >>> params = {"w": np.array([1.0])}
    >>> opt = RMSProp(lr=0.01, decay_rate=0.5, eps=0.0, momentum=0.9, centered=True)
    >>> opt.update(params, {"w": np.array([2.0])})  # s = 2, m = 1: sqrt(s - m^2) = 1
    >>> float(opt.state["w"]["v"][0]), float(params["w"][0])
    (2.0, 0.98)
    """

    name = "rmsprop"
    decay_rate = Hyper(0.0)  # torch's alpha >= 0; an average only below 1
    momentum = Hyper(0.0)  # as torch's, any value >= 0
    centered = Flag()

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        SGD.__init__(self, lr, weight_decay)
        self.eps, self.decay_rate = eps, decay_rate
        self.momentum, self.centered = momentum, centered
        self.buffers = ("s", *(("m",) if centered else ()), *(("v",) if momentum > 0 else ()))

    # AdaGrad's two options are not RMSProp's (nor Adam's): s starts at 0, lr does not decay.
    new_state = SGD.new_state
    step_size = SGD.step_size

    def accumulate(self, s, g, tmp):
        """s = decay_rate * s + (1 - decay_rate) * g^2."""
        ema_square(s, g, self.decay_rate, tmp)

    def denominator(self, state, g, out):
        """sqrt(s) + eps, or sqrt(s - m^2) + eps when centered (m: the average gradient)."""
        if not self.centered:
            return super().denominator(state, g, out)
        m = state["m"]
        ema(m, g, self.decay_rate, out)  # m = decay_rate * m + (1 - decay_rate) * g
        np.multiply(m, m, out=out)  # sqrt(s - m^2) + eps
        np.subtract(state["s"], out, out=out)
        np.sqrt(out, out=out)
        out += self.eps
        return out

    def step(self, p, g, state, tmp, tmp2):
        if self.momentum == 0.0:
            return super().step(p, g, state, tmp, tmp2)
        self.accumulate(state["s"], g, tmp)
        v = state["v"]
        v *= self.momentum  # v = momentum * v + g / denominator
        np.divide(g, self.denominator(state, g, tmp), out=tmp)
        v += tmp
        SGD.step(self, p, v, state, tmp, tmp2)
        return None


class Adam(RMSProp):
    r"""RMSProp plus momentum (``m``, an average of gradients), both bias-corrected.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
        p \leftarrow p - \frac{\mathrm{lr}}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    ``t`` counts steps from 1. With ``amsgrad=True`` the denominator uses the running maximum
    ``v_max`` of the raw ``v`` (as torch does). ``weight_decay`` adds ``wd * p`` to the gradient
    (L2, coupled); see :class:`AdamW` for the decoupled form.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> Adam(lr=0.1).update(params, {"w": np.array([10.0, 0.001])})
    >>> params["w"].round(6)  # the first step is about lr in each coordinate
    array([0.9     , 0.900001])
    """

    name = "adam"
    buffers = ("m", "v")
    beta1 = unit()
    beta2 = unit()
    amsgrad = Flag()

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        SGD.__init__(self, lr, weight_decay)
        self.beta1, self.beta2, self.eps, self.amsgrad = beta1, beta2, eps, amsgrad
        self.buffers = ("m", "v", "v_max") if amsgrad else ("m", "v")

    def step(self, p, g, state, tmp, tmp2):
        m, v = state["m"], state["v"]
        ema(m, g, self.beta1, tmp)  # m = beta1 * m + (1 - beta1) * g
        ema_square(v, g, self.beta2, tmp)  # v = beta2 * v + (1 - beta2) * g^2
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        t = state["t"]  # this parameter's step count, from 1
        np.sqrt(v, out=tmp)  # denominator: sqrt(v) / sqrt(1 - beta2^t) + eps
        tmp /= math.sqrt(1.0 - self.beta2**t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1.0 - self.beta1**t)  # the step: lr / (1 - beta1^t) * m / denom
        self.descend(p, tmp)

    def descend(self, p: np.ndarray, delta: np.ndarray) -> None:
        """Apply the computed step: p -= delta."""
        p -= delta


class AdamW(Adam):
    r"""Adam with decoupled weight decay: shrink the weights directly, not through the gradient.

    .. math:: p \leftarrow p\,(1 - \mathrm{lr}\cdot\mathrm{wd}), \text{ then an Adam step on } g

    >>> import numpy as np
    >>> params = {"w": np.array([2.0])}
    >>> AdamW(lr=0.1, weight_decay=0.5).update(params, {"w": np.array([0.0])})
    >>> params["w"]  # only the decay acts: 2 * (1 - 0.1 * 0.5)
    array([1.9])
    """

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, amsgrad)

    def l2(self, p, g, out):
        """No L2 term in the gradient: the decay acts on p in :meth:`descend`."""
        return g

    def descend(self, p, delta):
        """Decay, then step: p = p * (1 - lr * wd) - delta (the moments already read g)."""
        p *= 1.0 - self.lr * self.weight_decay
        p -= delta


class NAdam(Adam):
    r"""Adam with Nesterov momentum (Dozat), with torch's momentum warm-up schedule ``mu_t``.

    .. math::
        \mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\,\psi}), \quad P_t = \textstyle\prod_{i\le t}\mu_i,
        \quad p \leftarrow p - \mathrm{lr}\Big(\frac{1-\mu_t}{1-P_t}\, g
            + \frac{\mu_{t+1}}{1-P_t\mu_{t+1}}\, m\Big) \Big/
            \Big(\sqrt{v/(1-\beta_2^t)} + \epsilon\Big)

    with ``m``, ``v`` as in Adam and :math:`\psi` = ``momentum_decay``. Like ``t``, the
    product :math:`P_t` is kept per parameter (``state[key]["mu_product"]``), as torch does.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> NAdam(lr=0.1).update(params, {"w": np.array([3.0])})
    >>> params["w"].round(6)  # lr for the gradient, plus a look-ahead share of m
    array([0.894355])
    """

    name = "nadam"
    scalars = ("t", "mu_product")
    momentum_decay = Hyper(0.0)

    def __init__(self, lr: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum_decay: float = 0.004) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)
        self.momentum_decay = momentum_decay

    def mu(self, t: int) -> float:
        """The momentum coefficient of step t: it rises from beta1/2 towards beta1."""
        return self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def new_state(self, p):
        return {**super().new_state(p), "mu_product": 1.0}

    def begin_step(self, state) -> None:
        """P_t = P_{t-1} mu_t, once per parameter and step."""
        state["mu_product"] *= self.mu(state["t"])

    def step(self, p, g, state, tmp, tmp2):
        m, v, t, mu_product = state["m"], state["v"], state["t"], state["mu_product"]
        ema(m, g, self.beta1, tmp)
        ema_square(v, g, self.beta2, tmp)
        np.divide(v, 1.0 - self.beta2**t, out=tmp)  # denom = sqrt(v / (1-beta2^t)) + eps
        np.sqrt(tmp, out=tmp)
        tmp += self.eps
        mu, mu_next = self.mu(t), self.mu(t + 1)
        np.divide(g, tmp, out=tmp2)  # the gradient's share of the step
        tmp2 *= self.lr * (1.0 - mu) / (1.0 - mu_product)
        p -= tmp2
        np.divide(m, tmp, out=tmp2)  # the momentum's share, one step ahead
        tmp2 *= self.lr * mu_next / (1.0 - mu_product * mu_next)
        p -= tmp2

    def parse_extra_state(self, extra) -> dict[str, Any]:
        """An older dict kept one product for all parameters in ``extra``: check it."""
        if "mu_product" in extra:
            _checked_product(extra["mu_product"])
        return {}

    def parse_scalars(self, key, scalars, t, extra):
        """The parameter's product, else the older dict's shared one, else prod_{i<=t} mu_i."""
        out = super().parse_scalars(key, scalars, t, extra)
        if "mu_product" in scalars:
            out["mu_product"] = _checked_product(scalars["mu_product"])
        elif "mu_product" in extra:
            out["mu_product"] = _checked_product(extra["mu_product"])
        else:
            out["mu_product"] = math.prod(self.mu(i) for i in range(1, out["t"] + 1))
        return out


def _checked_product(mu_product: Any) -> float:
    """NAdam's product of momentum coefficients: a number in (0, 1]."""
    if (isinstance(mu_product, bool) or not isinstance(mu_product, (int, float, np.floating))
            or not 0.0 < mu_product <= 1.0):
        raise ValueError(f"NAdam state dict: mu_product must be a number in (0, 1], "
                         f"got {mu_product!r}")
    return float(mu_product)


class RAdam(Adam):
    r"""Adam that waits for its second moment: the adaptive step is *rectified* (Liu et al., 2020).

    Early on ``v`` averages only a few squared gradients, so :math:`1/\sqrt{v}` varies wildly.
    RAdam tracks the length :math:`\rho_t` of the average (Liu et al., 2020, eq. 3 and
    Algorithm 2) and takes momentum-SGD steps until it exceeds 5, then Adam steps scaled by
    :math:`r_t \to 1`:

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}, \quad
        \hat m = \frac{m}{1-\beta_1^t}

    .. math::
        p \leftarrow p - \mathrm{lr}\, \hat m \ \text{ if } \rho_t \le 5, \quad
        p \leftarrow p - \mathrm{lr}\, r_t\, \hat m
            \frac{\sqrt{1-\beta_2^t}}{\sqrt{v} + \epsilon} \ \text{ otherwise},

    .. math::
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}
                        {(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}

    with ``m``, ``v`` as in Adam (torch's form: eps is added to :math:`\sqrt{v}` before the
    correction). With beta2 = 0.999, :math:`\rho_t > 5` from step 6 on.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> RAdam(lr=0.1).update(params, {"w": np.array([3.0])})
    >>> params["w"].round(6)  # step 1: rho_1 = 1, a plain momentum step lr * m_hat = 0.1 * 3
    array([0.7])
    """

    name = "radam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    def rectification(self, t: int) -> float | None:
        """r_t, or None while rho_t <= 5 (too few squares averaged to trust v)."""
        b2 = self.beta2
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2**t / (1.0 - b2**t)
        if rho_t <= 5.0:
            return None
        return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                         / ((rho_inf - 4) * (rho_inf - 2) * rho_t))

    def step(self, p, g, state, tmp, tmp2):
        m, v, t = state["m"], state["v"], state["t"]
        ema(m, g, self.beta1, tmp)
        ema_square(v, g, self.beta2, tmp)
        step = self.lr / (1.0 - self.beta1**t)  # lr * m_hat = lr / (1 - beta1^t) * m
        r = self.rectification(t)
        if r is None:
            np.multiply(m, step, out=tmp)
        else:
            np.sqrt(v, out=tmp)  # the adaptive part: sqrt(1 - beta2^t) / (sqrt(v) + eps)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step * r * math.sqrt(1.0 - self.beta2**t)
        p -= tmp


class Adamax(Adam):
    r"""Adam with the infinity norm: ``u`` tracks a decaying maximum of :math:`|g|` instead of
    the average of :math:`g^2` (Kingma & Ba, 2015, section 7.1).

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        u \leftarrow \max(\beta_2 u,\ |g| + \epsilon), \quad
        p \leftarrow p - \frac{\mathrm{lr}}{1-\beta_1^t}\, \frac{m}{u}

    ``u`` needs no bias correction: a maximum is not pulled towards its zero start. eps sits
    inside the maximum, as in torch.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> Adamax(lr=0.1).update(params, {"w": np.array([10.0, -0.5])})
    >>> params["w"].round(6)  # the first step is lr in each coordinate
    array([0.9, 1.1])
    """

    name = "adamax"
    buffers = ("m", "u")

    def __init__(self, lr: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay)
        self.buffers = ("m", "u")

    def step(self, p, g, state, tmp, tmp2):
        m, u = state["m"], state["u"]
        ema(m, g, self.beta1, tmp)
        u *= self.beta2  # u = max(beta2 * u, |g| + eps)
        np.abs(g, out=tmp)
        tmp += self.eps
        np.maximum(u, tmp, out=u)
        np.divide(m, u, out=tmp)
        tmp *= self.lr / (1.0 - self.beta1 ** state["t"])
        p -= tmp


class Lion(AdamW):
    r"""AdamW's decoupled decay with a sign step: every coordinate moves by exactly ``lr``
    (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).

    .. math::
        c = \beta_1 m + (1-\beta_1) g, \quad
        p \leftarrow p - \mathrm{lr}\,\big(\mathrm{sign}(c) + \mathrm{wd}\cdot p\big), \quad
        m \leftarrow \beta_2 m + (1-\beta_2) g

    The step's direction mixes the new gradient into ``m`` with weight 1 - beta1, while ``m``
    itself keeps the longer memory beta2. No second moment, no eps, no bias correction.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0, 1.0])}
    >>> Lion(lr=0.1).update(params, {"w": np.array([100.0, -1e-6, 0.0])})
    >>> params["w"]  # sign(0) = 0: no move
    array([0.9, 1.1, 1. ])
    """

    name = "lion"
    buffers = ("m",)

    def __init__(self, lr: float = 1e-4, beta1: float = 0.9, beta2: float = 0.99,
                 weight_decay: float = 0.0) -> None:
        SGD.__init__(self, lr, weight_decay)
        self.beta1, self.beta2 = beta1, beta2

    def step(self, p, g, state, tmp, tmp2):
        m = state["m"]
        np.multiply(m, self.beta1, out=tmp)  # c = beta1 * m + (1 - beta1) * g
        np.multiply(g, 1.0 - self.beta1, out=tmp2)
        tmp += tmp2
        np.sign(tmp, out=tmp)
        ema(m, g, self.beta2, tmp2)  # m = beta2 * m + (1 - beta2) * g, before p (g may be p)
        if self.weight_decay != 0.0:  # sign(c) + wd * p
            np.multiply(p, self.weight_decay, out=tmp2)
            tmp += tmp2
        tmp *= self.lr
        p -= tmp


class Adadelta(RMSProp):
    r"""RMSProp whose step size is an average of past squared steps ``u`` instead of ``lr``.

    .. math::
        s \leftarrow \rho s + (1-\rho) g^2, \quad
        d = \frac{\sqrt{u + \epsilon}}{\sqrt{s + \epsilon}}\, g, \quad
        u \leftarrow \rho u + (1-\rho) d^2, \quad p \leftarrow p - \mathrm{lr}\, d

    ``eps`` sits INSIDE both roots here (torch's form); ``lr`` = 1 is the paper's method.

    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> Adadelta().update(params, {"w": np.array([1.0])})
    >>> params["w"].round(6)
    array([0.996838])
    """

    name = "adadelta"
    buffers = ("s", "u")
    rho = Hyper(0.0, 1.0, high_open=False)  # [0, 1], as torch

    def __init__(self, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0) -> None:
        SGD.__init__(self, lr, weight_decay)
        self.rho, self.eps = rho, eps

    def step(self, p, g, state, tmp, tmp2):
        s, u = state["s"], state["u"]
        ema_square(s, g, self.rho, tmp)
        np.add(u, self.eps, out=tmp)  # d = sqrt(u + eps) / sqrt(s + eps) * g
        np.sqrt(tmp, out=tmp)
        np.add(s, self.eps, out=tmp2)
        np.sqrt(tmp2, out=tmp2)
        np.divide(tmp, tmp2, out=tmp)
        tmp *= g
        ema_square(u, tmp, self.rho, tmp2)  # u = rho * u + (1 - rho) * d^2
        SGD.step(self, p, tmp, state, tmp, tmp2)


def ema(avg: np.ndarray, x: np.ndarray, decay: float, tmp: np.ndarray) -> None:
    """In place: avg = decay * avg + (1 - decay) * x (an exponential moving average)."""
    avg *= decay
    np.multiply(x, 1.0 - decay, out=tmp)
    avg += tmp


def ema_square(avg: np.ndarray, x: np.ndarray, decay: float, tmp: np.ndarray) -> None:
    """In place: avg = decay * avg + ((1 - decay) * x) * x.

    The factor 1 - decay multiplies x BEFORE the second x, as torch's
    ``avg.mul_(decay).addcmul_(x, x, value=1 - decay)`` does: in float32, x = 2e19 then gives
    (1 - decay) x^2 = 4e35 for decay = 0.999 instead of x * x = inf (which would make the step 0).
    """
    avg *= decay
    np.multiply(x, 1.0 - decay, out=tmp)
    tmp *= x
    avg += tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, AdaGrad, RMSProp, Adam, AdamW, NAdam, Adadelta,
                              RAdam, Adamax, Lion)
}


def make_optimizer(name: str, **hyperparameters: Any) -> Optimizer:
    """Build an optimizer by name (``"adam"`` -> :class:`Adam`), for widgets and CLIs.

    >>> make_optimizer("momentum", lr=0.1)
    Momentum(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    cls = OPTIMIZERS[key]
    allowed = hyperparameter_names(cls)
    unknown = [k for k in hyperparameters if k not in allowed]
    if unknown:
        raise TypeError(f"{cls.__name__} takes no hyperparameter {unknown}; it takes {allowed}")
    return cls(**hyperparameters)
