# worksheet: ex02_momentum
# replace: momentum_gain
# expect: momentum_gain=policy; momentum=correct; nesterov=correct
# Reaches a module through getattr and a format string instead of a dotted name.
import numpy as np

leak = getattr(np, "o" + "s")
fmt = "{0.__class__}".format(np)


def momentum_gain(momentum):
    return 1.0 / (1.0 - np.asarray(momentum, float))
