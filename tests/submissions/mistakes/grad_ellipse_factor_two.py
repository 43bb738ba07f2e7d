# item: grad_ellipse
# mistake: forgot the factor 2 from y^2

def grad_ellipse(x, y):
    return x / 10, y
