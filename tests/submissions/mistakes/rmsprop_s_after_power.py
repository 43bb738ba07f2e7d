# item: rmsprop_s_after
# mistake: decay_rate^t instead of 1 - decay_rate^t
import numpy as np


def rmsprop_s_after(g, decay_rate, t):
    return decay_rate**t * np.asarray(g, dtype=float) ** 2
