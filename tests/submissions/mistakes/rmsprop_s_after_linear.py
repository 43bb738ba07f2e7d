# item: rmsprop_s_after
# mistake: s grows linearly in t
import numpy as np


def rmsprop_s_after(g, decay_rate, t):
    return t * (1 - decay_rate) * np.asarray(g, dtype=float) ** 2
