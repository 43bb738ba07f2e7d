# item: rmsprop
# mistake: bias correction in RMSProp
import numpy as np


class RMSProp:
    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-8):
        self.lr = lr
        self.decay_rate = decay_rate
        self.eps = eps
        self.s = {}
        self.t = 0

    def update(self, params, grads):
        self.t += 1
        for key in params:
            if key not in self.s:
                self.s[key] = np.zeros_like(params[key])
            g = grads[key]
            self.s[key] = self.decay_rate * self.s[key] + (1 - self.decay_rate) * g**2
            s_hat = self.s[key] / (1 - self.decay_rate**self.t)
            params[key] -= self.lr * g / (np.sqrt(s_hat) + self.eps)
