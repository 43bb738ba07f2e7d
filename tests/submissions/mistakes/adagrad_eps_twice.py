# item: adagrad
# mistake: eps both inside and outside the sqrt
import numpy as np


class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10):
        self.lr = lr
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            if key not in self.s:
                self.s[key] = np.zeros_like(params[key])
            self.s[key] += grads[key] ** 2
            params[key] -= self.lr * grads[key] / (np.sqrt(self.s[key] + self.eps) + self.eps)
