# item: train_losses
# mistake: the whole data set at every step



def train_losses(net, optimizer, x, t, steps, batch_size, seed=0):
    losses = []
    for _ in range(steps):
        loss, grads = net.loss_and_gradient(x, t)
        optimizer.update(net.params, grads)
        losses.append(loss)
    return losses
