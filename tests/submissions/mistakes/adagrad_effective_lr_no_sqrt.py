# item: adagrad_effective_lr
# mistake: forgot the square root
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    return lr / ((np.asarray(grads) ** 2).sum(axis=0) + eps)
