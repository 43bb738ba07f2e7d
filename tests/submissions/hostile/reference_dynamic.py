# worksheet: ex04_rmsprop
# replace: rmsprop
# expect: rmsprop=policy; rmsprop_s_after=correct
import importlib


class RMSProp:
    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-8):
        name = "course_lib." + "optim" + "izers"  # hidden from a static check
        self.inner = importlib.import_module(name).RMSProp(lr, decay_rate, eps)

    def update(self, params, grads):
        self.inner.update(params, grads)
