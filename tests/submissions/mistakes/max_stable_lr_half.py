# item: max_stable_lr
# mistake: 1 / lambda_max instead of 2 / lambda_max

def max_stable_lr(eigenvalues):
    return 1 / max(eigenvalues)
