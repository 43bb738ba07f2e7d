# worksheet: ex01_gradient_descent
# replace: grad_ellipse
# expect: grad_ellipse=missing; sgd=correct; max_stable_lr=correct
raise ValueError("this cell fails before it defines anything")
