"""The machinery every optimizer shares: checked hyperparameters, per-parameter state, blocks.

The optimizers in :mod:`course_lib.optimizers` only say how ONE block of ONE parameter moves.
Everything else lives here, once: validating input before anything changes, creating the state
buffers, counting steps, saving and restoring, and walking each parameter in cache-sized blocks
with preallocated scratch memory, so that a step allocates nothing after the first.

When the parameters are views of one buffer (:func:`course_lib.flat.pack`, ``MLP(flat=True)``)
and so are their gradients, an elementwise optimizer updates the whole buffer in one pass
instead of one parameter after another: the same numbers, far fewer NumPy calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from course_lib.flat import SpanCache, pack, span

# Elements per block. Small blocks keep a step's many passes over p, g and the state in cache
# instead of memory; too small and Python's per-block overhead dominates. 2**18 was the fastest
# for 1M- and 10M-element Adam steps on the course machine (see benchmarks/RESULTS.md).
BLOCK = 1 << 18


class Hyper:
    """A hyperparameter attribute that checks every value assigned to it.

    ``low``/``high`` bound the allowed range; ``low_open``/``high_open`` say whether the bound
    itself is excluded. The error names the optimizer, the parameter, the value and the range.
    """

    def __init__(self, low: float, high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = True) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def allowed(self) -> str:
        """The allowed range in interval notation, e.g. ``[0, 1)``."""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        high = "inf" if self.high == math.inf else f"{self.high:g}"
        return f"{left}{self.low:g}, {high}{right}"

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in the allowed range."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        owner = type(obj).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{owner}: {self.name} must be a real number in {self.allowed}, "
                            f"got {value!r} ({type(value).__name__})")
        value = float(value)
        if not math.isfinite(value) or not self.contains(value):
            raise ValueError(f"{owner}: {self.name}={value!r} is outside the allowed range "
                             f"{self.allowed}")
        obj.__dict__[self.name] = value


class Flag:
    """A boolean option (``nesterov``, ``amsgrad``) that refuses anything but True/False."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{type(obj).__name__}: {self.name} must be True or False, "
                            f"got {value!r}")
        obj.__dict__[self.name] = bool(value)


class Optimizer:
    """Base class: ``update(params, grads)`` moves every parameter in place, one step.

    Subclasses set ``buffers`` (the names of their per-parameter state, as in the notebooks'
    math) and implement :meth:`step` for one block. ``opt.state[key][name]`` holds the buffers
    of parameter ``key`` and its own step count ``opt.state[key]["t"]`` (as torch keeps
    ``step`` per parameter: a parameter that joins later starts its bias correction at 1);
    ``opt.t`` counts the ``update`` calls, for display.
    """

    name: ClassVar[str] = "optimizer"
    buffers: ClassVar[tuple[str, ...]] = ()
    # True when step() treats every element on its own (no norms, no sums over a parameter):
    # then parameters packed in one buffer may be updated as one array, with equal results.
    elementwise: ClassVar[bool] = False
    # Per-parameter numbers kept next to the buffers (NAdam adds its mu product).
    scalars: ClassVar[tuple[str, ...]] = ("t",)
    lr = Hyper(0.0)  # lr = 0 is allowed, as in torch: nothing moves, the state still updates
    weight_decay = Hyper(0.0)

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr = lr
        self.weight_decay = weight_decay
        self.t = 0
        self.state: dict[str, dict[str, Any]] = {}
        self._scratch: dict[np.dtype, np.ndarray] = {}
        self._spans = SpanCache()

    # ----- what a subclass writes -------------------------------------------------------------
    def step(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
             tmp: np.ndarray, tmp2: np.ndarray) -> None:
        """Move the block ``p`` in place given its gradient ``g`` (read-only) and state views.

        ``tmp`` and ``tmp2`` are scratch arrays of the block's shape and dtype; ``state["t"]``
        is this parameter's step count, already incremented (1 on its first step).
        """
        raise NotImplementedError

    def new_state(self, p: np.ndarray) -> dict[str, Any]:
        """The state of a parameter before its first step: t = 0 and zero buffers."""
        return {"t": 0, **{name: np.zeros_like(p) for name in self.buffers}}

    def begin_step(self, state: dict[str, Any]) -> None:
        """Hook run once per parameter and step, after its ``t`` is incremented."""

    # ----- the public API -----------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The current hyperparameters, by the constructor's names."""
        return {k: getattr(self, k) for k in hyperparameter_names(type(self))}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, Any]) -> None:
        """One step: update every array of ``params`` in place using ``grads`` (same keys).

        A gradient of ``None`` skips its parameter, as torch skips ``p.grad is None``: no step,
        no weight decay, no change to its state or its ``t``. Every check runs before anything
        changes: on an error, parameters, state and ``t`` are left exactly as they were.
        """
        grads = self._checked(params, grads)
        new = [key for key, p in params.items() if key not in self.state and grads[key] is not None]
        for key in new:
            self.state[key] = self.new_state(params[key])
        if len(new) == len(params):
            self._pack_state(params)
        self.t += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            whole = self._whole(params, grads)
            if whole is not None:  # one pass over the buffer that holds every parameter
                for key in params:
                    self.state[key]["t"] += 1
                    self.begin_step(self.state[key])
                p, g, state = whole
                state.update({n: self.state[next(iter(params))][n] for n in self.scalars})
                self._step_blocks(p, g, state)
                return
            for key, p in params.items():
                if grads[key] is None:
                    continue
                state = self.state[key]
                state["t"] += 1
                self.begin_step(state)
                self._step_blocks(p, grads[key], state)

    def _step_blocks(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        """Run :meth:`step` (after the L2 term) over every block of one array."""
        for pb, gb, sb, (tmp, tmp2, gtmp) in self._blocks(p, g, state):
            self.step(pb, self.l2(pb, gb, gtmp), sb, tmp, tmp2)

    def l2(self, p: np.ndarray, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Coupled (L2) weight decay: the gradient of loss + wd/2 |p|^2 is g + wd * p.

        Returns ``g`` itself when wd = 0, otherwise ``g + wd * p`` written into ``out``; the
        caller's gradient is never modified.
        """
        if self.weight_decay == 0.0:
            return g
        np.multiply(p, self.weight_decay, out=out)
        out += g
        return out

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything needed to continue the run: hyperparameters, t, state.

        ``state[key]`` holds the buffers of parameter ``key`` (copies) and its own ``t``.
        """
        return {"optimizer": self.name, "hyperparameters": self.hyperparameters(), "t": self.t,
                "state": {k: {n: a.copy() if isinstance(a, np.ndarray) else a
                              for n, a in s.items()} for k, s in self.state.items()},
                "extra": self.extra_state()}

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; checks everything first and changes nothing on error.

        A state dict saved before the step count was kept per parameter (no ``"t"`` in
        ``state[key]``) gives every parameter the shared ``t``: then every parameter had made
        every update.
        """
        for field in ("optimizer", "hyperparameters", "t", "state"):
            if field not in sd:
                raise KeyError(f"state dict has no {field!r} entry (keys: {sorted(sd)})")
        if sd["optimizer"] != self.name:
            raise ValueError(f"state dict is for {sd['optimizer']!r}, not {self.name!r}")
        names = hyperparameter_names(type(self))
        unknown = set(sd["hyperparameters"]) - set(names)
        if unknown:
            raise KeyError(f"unknown hyperparameters {sorted(unknown)}; allowed: {names}")
        trial = type(self)(**sd["hyperparameters"])  # validates every value before we copy any
        t = _checked_count("state dict's t", sd["t"])
        raw_extra = sd.get("extra", {})
        extra = trial.parse_extra_state(raw_extra)
        if not isinstance(sd["state"], Mapping):
            raise TypeError(f"state dict's state must be a dict, got {type(sd['state']).__name__}")
        state = {}
        for key, bufs in sd["state"].items():
            arrays = _checked_buffers(key, bufs, trial.buffers, trial.scalars)
            scalars = trial.parse_scalars(key, {n: bufs[n] for n in trial.scalars if n in bufs},
                                          t, raw_extra)
            state[key] = {**scalars, **arrays}
        # Everything is valid: only now does the optimizer change.
        self.__dict__.update({k: getattr(trial, k) for k in names})
        self.buffers = trial.buffers
        self.t, self.state = int(t), state
        self.__dict__.update(extra)

    def extra_state(self) -> dict[str, Any]:
        """Scalars kept besides the per-parameter buffers (none by default)."""
        return {}

    def parse_extra_state(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Check what :meth:`extra_state` saved; return the attributes to restore."""
        return {}

    def parse_scalars(self, key: str, scalars: Mapping[str, Any], t: int,
                      extra: Mapping[str, Any]) -> dict[str, Any]:
        """Check one parameter's saved numbers (its ``t``); fill in those an older dict lacks.

        ``t`` is the dict's shared step count and ``extra`` its ``"extra"`` entry.
        """
        count = scalars.get("t", t)
        return {"t": _checked_count(f"state[{key!r}]['t']", count)}

    def __getstate__(self) -> dict[str, Any]:
        """For copy and pickle: a copy's state buffers are new arrays, so forget the old spans."""
        return {**self.__dict__, "_spans": SpanCache()}

    # ----- internals ------------------------------------------------------------------------------
    def _pack_state(self, params: Mapping[str, np.ndarray]) -> None:
        """New state for parameters packed in one buffer: pack each state buffer alike."""
        if self.elementwise and span(list(params.values())) is not None:
            for name in self.buffers:
                views = pack({key: self.state[key][name] for key in params})
                for key, view in views.items():
                    self.state[key][name] = view

    def _whole(self, params: Mapping[str, np.ndarray], grads: Mapping[str, Any]) -> tuple | None:
        """(p, g, state buffers) spanning all parameters, if one pass may update them all.

        That needs an elementwise step, a gradient for every parameter, every array group
        (parameters, gradients, each state buffer) tiling one buffer in the same order, and the
        same step count (and other numbers) in every parameter's state.
        """
        if not self.elementwise or any(g is None for g in grads.values()):
            return None
        states = [self.state[key] for key in params]
        for name in self.scalars:
            if any(s[name] != states[0][name] for s in states):
                return None
        groups = [list(params.values()), [grads[key] for key in params],
                  *([s[name] for s in states] for name in self.buffers)]
        spans = self._spans.get(groups)
        if spans is None or len({s.size for s in spans}) != 1:
            return None
        return spans[0], spans[1], dict(zip(self.buffers, spans[2:], strict=True))

    def _checked(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> dict:
        who = type(self).__name__
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise TypeError(f"{who}.update(params, grads) takes two dicts of arrays, got "
                            f"{type(params).__name__} and {type(grads).__name__}")
        missing = [k for k in params if k not in grads]
        if missing:
            raise KeyError(f"no gradient for parameter(s) {missing}; grads has {list(grads)}")
        extra = [k for k in grads if k not in params]
        if extra:
            raise KeyError(f"gradient(s) {extra} match no parameter; params has {list(params)}")
        checked = {}
        for key, p in params.items():
            # dtype.kind "f" is np.floating ("iu": np.integer), without issubdtype's slow lookup.
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                kind = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
                raise TypeError(f"params[{key!r}] must be a floating-point NumPy array "
                                f"(it is updated in place), got {kind}")
            if not p.flags.writeable:
                raise ValueError(f"params[{key!r}] is read-only; it must be updated in place")
            if grads[key] is None:  # skipped this step
                checked[key] = None
                continue
            g = np.asarray(grads[key])
            if g.dtype.kind not in "fiu":
                raise TypeError(f"grads[{key!r}] must hold numbers, got dtype {g.dtype}")
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] has shape {g.shape} but params[{key!r}] "
                                 f"has shape {p.shape}")
            old = self.state.get(key)
            if old and self.buffers and old[self.buffers[0]].shape != p.shape:
                raise ValueError(f"params[{key!r}] has shape {p.shape} but its optimizer state "
                                 f"has shape {old[self.buffers[0]].shape}")
            checked[key] = g
        return checked

    def _tmp(self, dtype: np.dtype, size: int) -> np.ndarray:
        buf = self._scratch.get(dtype)
        if buf is None or buf.shape[1] < size:
            buf = self._scratch[dtype] = np.empty((3, max(size, 1)), dtype)
        return buf[:, :size]

    def _blocks(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> Iterator:
        """Yield (p, g, state, scratch) views, block by block over the flattened arrays.

        ``scratch`` holds three arrays of the block's size: tmp, tmp2 and one for the L2 term;
        the block's state holds views of the buffers and the parameter's numbers (``t``).
        """
        arrays = [p, *(state[n] for n in self.buffers)]
        if not all(a.flags.c_contiguous for a in arrays):
            # Flattening a non-contiguous array would copy it and lose the in-place update.
            # Its scratch comes from the same buffer (grown once if need be), shaped like p.
            scratch = self._tmp(p.dtype, p.size)
            yield p, g, state, [row.reshape(p.shape) for row in scratch]
            return
        flat_p, flat_g = p.reshape(-1), g.reshape(-1)
        flat_s = {n: state[n].reshape(-1) for n in self.buffers}
        numbers = {n: state[n] for n in self.scalars}
        n = flat_p.size
        scratch = self._tmp(p.dtype, min(n, BLOCK))
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            yield (flat_p[lo:hi], flat_g[lo:hi],
                   {**numbers, **{k: a[lo:hi] for k, a in flat_s.items()}}, scratch[:, : hi - lo])


def _checked_count(what: str, t: Any) -> int:
    """A step count: a whole number >= 0."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {t!r}")
    return int(t)


def _checked_buffers(key: str, bufs: Any, names: tuple[str, ...],
                     scalars: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Copies of one parameter's buffers, after checking names, dtypes and shapes agree.

    The per-parameter numbers ``scalars`` (``t``) may sit next to the buffers; they are checked
    elsewhere.
    """
    arrays = ({n: b for n, b in bufs.items() if n not in scalars}
              if isinstance(bufs, Mapping) else None)
    if arrays is None or set(arrays) != set(names):
        got = sorted(arrays) if arrays is not None else type(bufs).__name__
        raise KeyError(f"state[{key!r}] has buffers {got}, expected {sorted(names)}")
    copies = {}
    for name, buf in arrays.items():
        if not isinstance(buf, np.ndarray) or not np.issubdtype(buf.dtype, np.floating):
            kind = buf.dtype if isinstance(buf, np.ndarray) else type(buf).__name__
            raise TypeError(f"state[{key!r}][{name!r}] must be a floating-point array, got {kind}")
        copies[name] = buf.copy()
    shapes = {name: buf.shape for name, buf in copies.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"state[{key!r}] buffers differ in shape: {shapes}")
    return copies


def check_updater(obj: Any, what: str = "optimizer") -> Any:
    """``obj`` if it can step: any object with an ``update(params, grads)`` method will do.

    A course_lib optimizer, or a class of your own written in the same form (state in dicts,
    ``update`` moving ``params`` in place), as in *Deep Learning from Scratch*.
    """
    if isinstance(obj, type) or not callable(getattr(obj, "update", None)):
        hint = "; pass an instance, not the class" if isinstance(obj, type) else ""
        raise TypeError(f"{what} must be an object with an update(params, grads) method (a "
                        f"course_lib optimizer or your own class), got {obj!r}{hint}")
    return obj


def check_has_lr(obj: Any, what: str = "optimizer") -> None:
    """A schedule sets ``obj.lr`` before every update: refuse an optimizer without one."""
    if not hasattr(obj, "lr"):
        raise TypeError(f"{what} ({type(obj).__name__}) has no lr attribute, but a schedule "
                        f"sets optimizer.lr before every update: give the class an lr "
                        f"attribute that its update reads (self.lr = lr), or drop the schedule")


def hyperparameter_names(cls: type) -> list[str]:
    """The constructor's parameter names of an optimizer class, in order."""
    import inspect

    return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
