# item: rmsprop
# mistake: a hyperparameter hard-coded
import numpy as np


class RMSProp:
    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-8):
        self.lr = lr
        self.decay_rate = decay_rate
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            g = grads[key]
            s = self.s.get(key, 0.0)
            s = 0.99 * s + 0.01 * g**2
            self.s[key] = s
            params[key] -= self.lr * g / (np.sqrt(s) + self.eps)
