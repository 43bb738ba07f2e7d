# worksheet: ex02_momentum
# replace: momentum
# expect: momentum=uses the reference implementation; nesterov=uses the reference implementation;
#   momentum_gain=correct
import numpy as np

import course_lib as cl


def make_reference(lr, momentum):
    return cl.optimizers.Momentum(lr=lr, momentum=momentum)


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = {}
        self.inner = make_reference(lr, momentum)

    def update(self, params, grads):
        self.inner.update(params, grads)
        self.v = {k: np.asarray(s["v"]) for k, s in self.inner.state.items()}
