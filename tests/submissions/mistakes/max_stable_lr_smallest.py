# item: max_stable_lr
# mistake: used the smallest eigenvalue
import numpy as np


def max_stable_lr(eigenvalues):
    return 2 / np.min(eigenvalues)
