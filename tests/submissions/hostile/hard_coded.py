# worksheet: ex01_gradient_descent
# replace: max_stable_lr
# expect: max_stable_lr=error; grad_ellipse=correct; sgd=correct
# The answers to the self-check's fixed inputs, copied from a correct run: the self-check
# passes, but the grader draws new inputs.
ANSWERS = {(0.1, 2.0): 1.0, (0.2, 4.0): 0.5, (1.0, 34.0, 67.0, 100.0): 0.02}


def max_stable_lr(eigenvalues):
    return ANSWERS[tuple(float(e) for e in eigenvalues)]
