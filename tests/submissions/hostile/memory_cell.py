# worksheet: ex01_gradient_descent
# replace: grad_ellipse
# expect: grad_ellipse=memory limit exceeded; sgd=correct; max_stable_lr=correct
import numpy as np

table = np.ones((50_000, 50_000))  # 20 GB


def grad_ellipse(x, y):
    return x / 10, 2 * y
