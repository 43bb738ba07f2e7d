# item: train_losses
# mistake: the seed was ignored

from course_lib.data import batch_indices


def train_losses(net, optimizer, x, t, steps, batch_size, seed=0):
    batches = batch_indices(len(x), batch_size)
    losses = []
    for _ in range(steps):
        idx = next(batches)
        loss, grads = net.loss_and_gradient(x[idx], t[idx])
        optimizer.update(net.params, grads)
        losses.append(loss)
    return losses
