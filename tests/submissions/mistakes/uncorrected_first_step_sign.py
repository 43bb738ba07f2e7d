# item: uncorrected_first_step
# mistake: gradient added instead of subtracted
import numpy as np


def uncorrected_first_step(lr, g, beta1, beta2, eps):
    g = np.asarray(g, dtype=float)
    return lr * (1 - beta1) * g / (np.sqrt((1 - beta2) * g**2) + eps)
