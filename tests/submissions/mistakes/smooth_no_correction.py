# item: smooth
# mistake: no bias correction
import numpy as np


def smooth(curve, weight):
    out, avg = [], 0.0
    for value in curve:
        avg = weight * avg + (1 - weight) * value
        out.append(avg)
    return np.array(out)
