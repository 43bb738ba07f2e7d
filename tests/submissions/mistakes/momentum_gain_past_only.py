# item: momentum_gain
# mistake: momentum / (1 - momentum): the current gradient is missing
import numpy as np


def momentum_gain(momentum):
    momentum = np.asarray(momentum)
    return momentum / (1 - momentum)
