"""course_lib: the NumPy library behind the course "From SGD to Adam"."""

from course_lib import schedules
from course_lib.clip import clip_grad_norm
from course_lib.data import (
    Dataset,
    batch_indices,
    digits,
    linear_regression,
    minibatches,
    moons,
    spirals,
)
from course_lib.minimize import Trajectory, minimize
from course_lib.networks import MLP, TwoLayerNet, gradient_check, numerical_gradient
from course_lib.optimizers import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Momentum,
    NAdam,
    RAdam,
    RMSProp,
    make_optimizer,
)
from course_lib.problems import PROBLEMS, Problem, get_problem, noisy, quadratic
from course_lib.training import History, compare, smooth, train

__all__ = ["SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "AdamW", "NAdam", "Adadelta",
           "RAdam", "Adamax", "Lion", "clip_grad_norm", "OPTIMIZERS", "make_optimizer",
           "Problem", "PROBLEMS", "get_problem", "noisy", "quadratic", "minimize", "Trajectory",
           "schedules", "Dataset", "batch_indices", "digits", "linear_regression", "minibatches",
           "moons", "spirals", "MLP", "TwoLayerNet", "gradient_check", "numerical_gradient",
           "History", "compare", "smooth", "train"]
__version__ = "0.1.0"
