# item: nesterov
# mistake: look-ahead with the wrong sign
import numpy as np


class Nesterov:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = {}

    def update(self, params, grads):
        for key in params:
            if key not in self.v:
                self.v[key] = np.zeros_like(params[key])
            self.v[key] = self.momentum * self.v[key] + grads[key]
            params[key] -= self.lr * (grads[key] - self.momentum * self.v[key])
