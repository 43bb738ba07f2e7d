"""Many parameters as views of one buffer, so an update can make one pass over all of them.

A network has many small arrays. Updating each one costs a dozen NumPy calls whose fixed
overhead, not the arithmetic, dominates when the arrays are small. :func:`pack` copies a dict
of arrays into ONE contiguous buffer and returns views of it under the same keys and shapes;
:func:`span` recognises such views and gives back the whole buffer, as one 1-D array.

Since every optimizer of the course updates each element on its own (elementwise), updating
the one buffer gives exactly the numbers that updating each view in turn would.

>>> import numpy as np
>>> views = pack({"W": np.ones((2, 2)), "b": np.zeros(2)})
>>> views["W"].shape, views["b"].shape
((2, 2), (2,))
>>> span(list(views.values()))
array([1., 1., 1., 1., 0., 0.])
>>> span([views["b"], views["W"]]) is None  # out of order: they do not tile the buffer
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["pack", "span", "SpanCache"]


def pack(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of ``arrays`` as views of one new contiguous buffer, end to end in dict order.

    All arrays must share one dtype. Each view has its array's shape; ``view.base`` is the
    buffer.
    """
    dtypes = {np.asarray(a).dtype for a in arrays.values()}
    if len(dtypes) != 1:
        raise TypeError(f"pack needs arrays of one dtype, got {sorted(map(str, dtypes))}")
    buffer = np.empty(sum(np.size(a) for a in arrays.values()), dtype=dtypes.pop())
    views, start = {}, 0
    for key, a in arrays.items():
        size = np.size(a)
        views[key] = buffer[start : start + size].reshape(np.shape(a))
        views[key][...] = a
        start += size
    return views


def span(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The 1-D part of one buffer that ``arrays`` fill end to end, in order, or None.

    None unless every array is a C-contiguous view of the same 1-D contiguous buffer and each
    starts where the one before it ends.
    """
    if not arrays:
        return None
    base = arrays[0].base
    if not (isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous):
        return None
    if any(a.base is not base or not a.flags.c_contiguous for a in arrays):
        return None
    start = address(arrays[0]) - address(base)
    end = start
    for a in arrays:
        if address(a) - address(base) != end:
            return None
        end += a.nbytes
    return base[start // base.itemsize : end // base.itemsize]


def address(a: np.ndarray) -> int:
    """Where ``a``'s first element lives in memory."""
    return a.__array_interface__["data"][0]


class SpanCache:
    """:func:`span` of several groups of arrays, recomputed only when the arrays change.

    A training loop hands the optimizer the same array objects every step; checking that they
    are the same objects (``is``) is far cheaper than checking their addresses again. The
    cache keeps the arrays alive, so an object it compares against can never be a new array
    that reuses an old one's id.
    """

    def __init__(self) -> None:
        self.arrays: tuple[np.ndarray, ...] = ()
        self.spans: list[np.ndarray] | None = None

    def get(self, groups: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray] | None:
        """One span per group, or None if any group does not tile one buffer."""
        arrays = tuple(a for group in groups for a in group)
        if len(arrays) != len(self.arrays) or any(
                a is not b for a, b in zip(arrays, self.arrays, strict=True)):
            self.arrays, self.spans = arrays, []
            for group in groups:
                whole = span(group)
                if whole is None:  # stop at the first group that does not tile
                    self.spans = None
                    break
                self.spans.append(whole)
        return self.spans
