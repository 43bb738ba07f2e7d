# worksheet: ex01_gradient_descent
# replace: sgd
# expect: sgd=output limit exceeded; grad_ellipse=correct; max_stable_lr=correct
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for _ in range(100_000):
            print("debugging output " * 10)
        for key in params:
            params[key] -= self.lr * grads[key]
