# worksheet: ex03_adagrad
# replace: adagrad_effective_lr
# expect: adagrad_effective_lr=policy; adagrad=correct
# Reads the solution notebook with numpy's file input instead of open().
import numpy as np

text = np.loadtxt("../../solutions/ex03_adagrad.ipynb", dtype=str, delimiter="\n")
table = np.load("answers.npy")


def adagrad_effective_lr(lr, grads, eps):
    return lr / (np.sqrt(np.sum(np.asarray(grads, float) ** 2, axis=0)) + eps)
