# item: max_stable_lr
# mistake: 2 / norm instead of 2 / lambda_max
import numpy as np


def max_stable_lr(eigenvalues):
    return 2.0 / np.linalg.norm(eigenvalues)
