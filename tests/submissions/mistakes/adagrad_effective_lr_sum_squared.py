# item: adagrad_effective_lr
# mistake: squared the sum instead of summing the squares
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    s = np.sum(grads, axis=0) ** 2
    return lr / (np.sqrt(s) + eps)
