# item: adagrad_effective_lr
# mistake: summed over every coordinate (no axis)
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    s = np.sum(np.asarray(grads, dtype=float) ** 2)
    return lr / (np.sqrt(s) + eps)
