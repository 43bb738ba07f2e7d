# item: adagrad_effective_lr
# mistake: eps missing from the denominator
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    return lr / np.sqrt((np.asarray(grads) ** 2).sum(axis=0))
