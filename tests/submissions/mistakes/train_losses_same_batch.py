# item: train_losses
# mistake: the same minibatch at every step

from course_lib.data import batch_indices


def train_losses(net, optimizer, x, t, steps, batch_size, seed=0):
    idx = next(batch_indices(len(x), batch_size, seed))
    losses = []
    for _ in range(steps):
        loss, grads = net.loss_and_gradient(x[idx], t[idx])
        optimizer.update(net.params, grads)
        losses.append(loss)
    return losses
