# item: smooth
# mistake: the exponent is one too small
import numpy as np


def smooth(curve, weight):
    out = np.empty(len(curve))
    avg = 0.0
    for i, value in enumerate(curve):
        avg = weight * avg + (1 - weight) * value
        out[i] = avg / (1 - weight**i)
    return out
