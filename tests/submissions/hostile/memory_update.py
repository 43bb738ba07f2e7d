# worksheet: ex01_gradient_descent
# replace: sgd
# expect: sgd=memory limit exceeded; grad_ellipse=correct; max_stable_lr=correct
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.hoard = []

    def update(self, params, grads):
        while True:
            self.hoard.append(bytearray(10**8))
