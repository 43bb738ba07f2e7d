# item: smooth
# mistake: the corrected average was carried on
import numpy as np


def smooth(curve, weight):
    out, avg = [], 0.0
    for i, value in enumerate(curve):
        avg = weight * avg + (1 - weight) * value
        avg = avg / (1 - weight ** (i + 1))
        out.append(avg)
    return np.array(out)
