# item: adagrad
# mistake: eps missing from the denominator
import numpy as np


class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10):
        self.lr = lr
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            g = grads[key]
            s = self.s.setdefault(key, np.zeros_like(g))
            s += g * g
            params[key] -= self.lr * g / np.sqrt(s)
