# worksheet: ex05_adam
# replace: uncorrected_first_step
# expect: uncorrected_first_step=answer markers damaged; adam=correct
def uncorrected_first_step(lr, g, beta1, beta2, eps):
    ### BEGIN SOLUTION
    return 0.0
