# worksheet: ex01_gradient_descent
# replace: max_stable_lr
# expect: max_stable_lr=policy; grad_ellipse=correct; sgd=correct
# The classic escape: from any object up to object, down to every loaded class.
import numpy as np

SUBCLASSES = ().__class__.__bases__[0].__subclasses__()


def max_stable_lr(eigenvalues):
    return 2.0 / np.max(eigenvalues)
