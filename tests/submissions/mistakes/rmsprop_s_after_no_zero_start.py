# item: rmsprop_s_after
# mistake: forgot that s starts at 0
import numpy as np


def rmsprop_s_after(g, decay_rate, t):
    return np.asarray(g, dtype=float) ** 2
