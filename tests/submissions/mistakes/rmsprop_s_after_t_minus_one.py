# item: rmsprop_s_after
# mistake: the exponent is one too small
import numpy as np


def rmsprop_s_after(g, decay_rate, t):
    return (1 - decay_rate ** (t - 1)) * np.square(g)
