# worksheet: ex03_adagrad
# replace: adagrad
# expect: adagrad=wrong; adagrad_effective_lr=correct
import numpy as np

import course_lib.checks as checks

checks.check_adagrad = lambda cls: print("AdaGrad: correct")
checks.same = lambda *args, **kwargs: True
checks.rel_error = lambda *args, **kwargs: 0.0


class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10):
        self.lr = lr
        self.eps = eps
        self.s = {}

    def update(self, params, grads):
        for key in params:
            self.s[key] = grads[key] ** 2  # the mistake: no accumulation
            params[key] -= self.lr * grads[key] / (np.sqrt(self.s[key]) + self.eps)
