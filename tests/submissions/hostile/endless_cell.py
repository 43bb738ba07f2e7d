# worksheet: ex01_gradient_descent
# append
# expect: grad_ellipse=correct; sgd=correct; max_stable_lr=correct; (notebook)=absent
while True:
    pass
