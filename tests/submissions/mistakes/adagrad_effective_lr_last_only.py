# item: adagrad_effective_lr
# mistake: AdaGrad without accumulation
import numpy as np


def adagrad_effective_lr(lr, grads, eps):
    last = np.asarray(grads)[-1]
    return lr / (np.sqrt(last**2) + eps)
