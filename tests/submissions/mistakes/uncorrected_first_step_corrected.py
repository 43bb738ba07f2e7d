# item: uncorrected_first_step
# mistake: this is the bias-corrected step
import numpy as np


def uncorrected_first_step(lr, g, beta1, beta2, eps):
    g = np.asarray(g, dtype=float)
    return -lr * g / (np.abs(g) + eps)
