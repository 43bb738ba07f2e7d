# item: train_losses
# mistake: loss measured after the update

from course_lib.data import batch_indices


def train_losses(net, optimizer, x, t, steps, batch_size, seed=0):
    batches = batch_indices(len(x), batch_size, seed)
    losses = []
    for _ in range(steps):
        idx = next(batches)
        grads = net.gradient(x[idx], t[idx])
        optimizer.update(net.params, grads)
        losses.append(net.loss(x[idx], t[idx]))
    return losses
