# item: grad_ellipse
# mistake: differentiated x^2/20 as x/20

def grad_ellipse(x, y):
    return x / 20, 2 * y
