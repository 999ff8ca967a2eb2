"""The PyTorch side shared by `torch_dense` and `torch_sparse`: Keras-equivalent init and
RMSprop, and one hand-written training loop that only asks the caller how to build a batch.

Keras-equivalence, on purpose:

- weights glorot-uniform, ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``, biases zero;
- RMSprop as Keras 3 writes it, epsilon *inside* the square root
  (``torch.optim.RMSprop`` puts it outside, which changes the curves at epsilon = 1e-7)::

      v <- rho * v + (1 - rho) * g**2
      w <- w - lr * g / sqrt(v + epsilon)

- binary crossentropy on the logit (``BCEWithLogitsLoss``): Keras 3 does the same when a
  sigmoid layer feeds ``binary_crossentropy``, and so does ``nn``.
"""

import time

import numpy as np
import torch
from torch import nn

from benchmarks.peers import common


def glorot_uniform_(weight):
    """Keras's default kernel init (symmetric in fan-in and fan-out, so the layout of
    ``weight`` does not matter)."""
    return nn.init.xavier_uniform_(weight)


class Tail(nn.Module):
    """Everything after the first layer's pre-activation: relu, Dense(16, relu), Dense(1)."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(common.UNITS[0], common.UNITS[1])
        self.out = nn.Linear(common.UNITS[1], 1)
        for layer in (self.hidden, self.out):
            glorot_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z1):
        return self.out(torch.relu(self.hidden(torch.relu(z1)))).squeeze(1)


class KerasRMSprop:
    """RMSprop with epsilon inside the square root (Keras 3); velocities start at zero."""

    def __init__(self, params, lr=common.LEARNING_RATE, rho=common.RHO, eps=common.EPSILON):
        self.params = list(params)
        self.velocities = [torch.zeros_like(p) for p in self.params]
        self.lr, self.rho, self.eps = lr, rho, eps

    @torch.no_grad()
    def step(self):
        for w, v in zip(self.params, self.velocities):
            g = w.grad
            v.mul_(self.rho).addcmul_(g, g, value=1 - self.rho)
            w.addcdiv_(g, v.add(self.eps).sqrt_(), value=-self.lr)

    def zero_grad(self):
        for w in self.params:
            w.grad = None


@torch.no_grad()
def evaluate(model, make_batch, split, n, batch_size):
    """Mean loss and accuracy over ``split`` in contiguous batches."""
    loss_sum, correct = 0.0, 0
    for start in range(0, n, batch_size):
        x, y = make_batch(split, slice(start, min(start + batch_size, n)))
        logits = model(x)
        loss_sum += float(nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="sum"))
        correct += int(((logits > 0) == (y > 0.5)).sum())
    return loss_sum / n, correct / n


def fit_and_evaluate(model, make_batch, sizes, args):
    """Train ``args.epochs`` epochs (shuffled batches of 512, then a validation pass, as
    Keras's fit does) and evaluate on test with batch 32. ``make_batch(split, rows)`` gives
    ``(x, y)`` for rows (an index array or a slice) of "train", "val" or "test".
    Returns the protocol's measurements as a dict."""
    optimizer = KerasRMSprop(model.parameters())
    order_rng = np.random.default_rng(args.seed)
    epoch_seconds, val_acc = [], float("nan")
    for _ in range(args.epochs):
        start_time = time.perf_counter()
        order = order_rng.permutation(sizes["train"])
        for start in range(0, sizes["train"], common.BATCH_SIZE):
            x, y = make_batch("train", order[start:start + common.BATCH_SIZE])
            loss = nn.functional.binary_cross_entropy_with_logits(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _, val_acc = evaluate(model, make_batch, "val", sizes["val"], common.BATCH_SIZE)
        epoch_seconds.append(time.perf_counter() - start_time)
    with common.Timer() as t:
        test_loss, test_acc = evaluate(model, make_batch, "test", sizes["test"],
                                       common.EVAL_BATCH_SIZE)
    return {"epoch_seconds": epoch_seconds, "evaluate_seconds": t.seconds,
            "test_loss": test_loss, "test_accuracy": test_acc, "val_accuracy_last": val_acc}


def setup(args):
    """Seed and pin torch's thread pools (before any parallel work)."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)


def versions():
    return {**common.base_versions(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:6]}
