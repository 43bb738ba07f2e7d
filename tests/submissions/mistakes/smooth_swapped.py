# item: smooth
# mistake: weight where (1 - weight) belongs
import numpy as np


def smooth(curve, weight):
    out, avg = [], 0.0
    for i, value in enumerate(curve):
        avg = (1 - weight) * avg + weight * value
        out.append(avg / (1 - weight ** (i + 1)))
    return np.array(out)
