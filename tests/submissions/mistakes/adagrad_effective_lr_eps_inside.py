# item: adagrad_effective_lr
# mistake: eps inside the sqrt
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    return lr / np.sqrt((np.asarray(grads) ** 2).sum(axis=0) + eps)
