# item: momentum
# mistake: one state buffer shared by all parameters
import numpy as np


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = {}

    def update(self, params, grads):
        for key in params:
            v = self.v.setdefault("velocity", np.zeros_like(params[key]))
            v *= self.momentum
            v += grads[key]
            params[key] -= self.lr * v
