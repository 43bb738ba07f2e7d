# item: train_losses
# mistake: forgot the optimizer's update

from course_lib.data import batch_indices


def train_losses(net, optimizer, x, t, steps, batch_size, seed=0):
    batches = batch_indices(len(x), batch_size, seed)
    losses = []
    for _ in range(steps):
        idx = next(batches)
        loss, grads = net.loss_and_gradient(x[idx], t[idx])
        losses.append(loss)
    return losses
