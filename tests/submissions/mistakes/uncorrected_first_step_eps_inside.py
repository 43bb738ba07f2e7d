# item: uncorrected_first_step
# mistake: eps inside the sqrt
import numpy as np


def uncorrected_first_step(lr, g, beta1, beta2, eps):
    m = (1 - beta1) * g
    v = (1 - beta2) * g**2
    return -lr * m / np.sqrt(v + eps)
