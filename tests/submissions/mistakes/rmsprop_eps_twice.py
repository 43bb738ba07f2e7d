# item: rmsprop
# mistake: eps both inside and outside the sqrt
import numpy as np


class RMSProp:
    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-8):
        self.lr = lr
        self.decay_rate = decay_rate
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            if key not in self.s:
                self.s[key] = np.zeros_like(params[key])
            g = grads[key]
            self.s[key] = self.decay_rate * self.s[key] + (1 - self.decay_rate) * g**2
            denom = np.sqrt(self.s[key] + self.eps) + self.eps
            params[key] -= self.lr * g / denom
