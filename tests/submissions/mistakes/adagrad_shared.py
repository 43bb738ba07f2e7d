# item: adagrad
# mistake: one state buffer shared by all parameters
import numpy as np


class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10):
        self.lr = lr
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            s = self.s.setdefault("sum", np.zeros_like(params[key]))
            s += grads[key] ** 2
            params[key] -= self.lr * grads[key] / (np.sqrt(s) + self.eps)
