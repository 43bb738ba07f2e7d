# worksheet: ex01_gradient_descent
# replace: sgd
# expect: sgd=memory limit exceeded; grad_ellipse=correct; max_stable_lr=correct
import numpy as np


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.hoard = []

    def update(self, params, grads):
        while True:
            self.hoard.append(np.empty(10**8))  # 800 MB of address space each time
