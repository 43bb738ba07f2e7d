# item: grad_ellipse
# mistake: the two components swapped

def grad_ellipse(x, y):
    return 2 * y, x / 10
