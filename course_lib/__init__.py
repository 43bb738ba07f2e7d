"""course_lib: the NumPy library behind the course "From SGD to Adam"."""

from course_lib.minimize import Trajectory, minimize
from course_lib.optimizers import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    NAdam,
    RMSProp,
    make_optimizer,
)
from course_lib.problems import PROBLEMS, Problem, get_problem, noisy, quadratic

__all__ = ["SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "AdamW", "NAdam", "Adadelta",
           "OPTIMIZERS", "make_optimizer", "Problem", "PROBLEMS", "get_problem", "noisy",
           "quadratic", "minimize", "Trajectory"]
__version__ = "0.1.0"
