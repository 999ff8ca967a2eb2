"""Backprop, step by step, on one mini-batch of real IMDB reviews: the companion of
docs/backprop.md.

Builds the notebook model (Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid), RMSprop,
binary crossentropy) and walks one batch through it with `nn`'s own pieces, printing every
number the document talks about, in the document's order:

  1. the batch and the model (shapes)
  2. the forward pass, layer by layer (shape, mean, norm, a few entries)
  3. the backward pass, layer by layer, from dL/dz = (p - y) / n back to dL/dW1
  4. why sigmoid + crossentropy is fused, and what mse does instead
  5. the sparse first layer: a 3-review example, and sparse vs dense on the batch
  6. a gradient check in float64: backprop vs central differences, per parameter
  7. one RMSprop step, and what epsilon does
  8. vanishing gradients: a few epochs with relu, tanh and sigmoid hidden layers, and a plot
     of each layer's kernel-gradient norm at every step
  9. the input gradient: which words of a review moved the trained model's prediction, by
     backprop one layer further than training goes, against occlusion

    python examples/backprop.py                     # the whole walkthrough, seconds
    python examples/backprop.py --backend numpy     # every step in plain NumPy, no numba
    python examples/backprop.py --limit 512 --batch-size 128 --epochs 1    # a small slice

It writes gradcheck.json, gradient_norms.json, gradient_norms.png and
gradient_norms_by_layer.png to --out. This is a teaching script: it reads the model's
private helpers (``_forward``, ``_backward``) to show that the hand-written chain below is
exactly what training runs.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import nn  # noqa: E402
from nn import (activations, attribution, gradcheck, layers, losses, models, ops,  # noqa: E402
                optimizers)
from nn.kernels import numpy as numpy_backend  # noqa: E402
from nn.datasets import imdb  # noqa: E402
from nn.preprocessing import vectorize_sequences  # noqa: E402

NUM_WORDS = 10000
ACTIVATIONS = ("relu", "tanh", "sigmoid")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", metavar="PATH", default=None,
                   help="a local copy of the dataset: a folder holding aclImdb*.tar.gz (or "
                        "aclImdb/ or imdb.npz) and imdb_word_index.json; default: NN_DATA_DIR, "
                        "the cache, or a download")
    p.add_argument("--out", metavar="DIR", default="backprop_output",
                   help="folder for gradcheck.json and the gradient-norm plots")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    p.add_argument("--backend", choices=nn.backend.NAMES, default=None,
                   help="numba (compiled kernels) or numpy (every step in plain NumPy, no "
                        "numba); default: NN_BACKEND, else numba")
    p.add_argument("--batch-size", type=int, default=512,
                   help="reviews in the walked-through batch and in each training step")
    p.add_argument("--epochs", type=int, default=3,
                   help="epochs of the relu / tanh / sigmoid training runs")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N training reviews (default %(default)s: all "
                        "25,000)")
    p.add_argument("--depth", type=int, default=2,
                   help="hidden layers of the relu / tanh / sigmoid models in the vanishing-"
                        "gradient comparison (the notebook has 2; try 5)")
    p.add_argument("--check-entries", type=int, default=64, metavar="K",
                   help="entries per parameter compared in the gradient check")
    p.add_argument("--broken-relu", action="store_true",
                   help="give the gradient-check model a ReLU whose backward forgets its mask "
                        "(a deliberate bug), to see the check catch it")
    p.add_argument("--quiet", action="store_true",
                   help="print only the gradient-check verdict and the files written")
    args = p.parse_args(argv)
    for name in ("batch_size", "epochs", "depth", "check_entries"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.limit is not None and args.limit < 2:
        p.error("--limit must be at least 2 (reviews)")
    return args


# ----------------------------------------------------------------------------- helpers

def build_model(seed, activation="relu", dtype="float32", depth=2):
    """The notebook model (``depth`` hidden layers of 16 ``activation`` units, default 2)."""
    model = models.Sequential(seed=seed, dtype=dtype)
    model.add(layers.Dense(16, activation=activation, input_shape=(NUM_WORDS,)))
    for _ in range(depth - 1):
        model.add(layers.Dense(16, activation=activation))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def fmt(v):
    return f"{v:+.4g}"


def entries(a, k=4):
    return "[" + " ".join(fmt(v) for v in np.ravel(a)[:k]) + (" ...]" if np.size(a) > k else "]")


def describe(label, a, first=None):
    """One line: label, shape, mean, norm and the first entries (of ``first`` if given)."""
    a = np.asarray(a)
    shown = a if first is None else first
    return (f"{label:<31}{str(a.shape):<13} mean {fmt(a.mean()):<12}"
            f"norm {np.linalg.norm(a):<10.4g}first {entries(shown)}")


def heading(say, text):
    say("")
    say(f"== {text} " + "=" * max(0, 86 - len(text)))


# ------------------------------------------------------------------- 2. forward pass

def forward_walk(model, x, y, say):
    """z_i = a_{i-1} W_i + b_i and a_i = f(z_i), layer by layer; then the loss."""
    heading(say, "2. Forward pass")
    a_prev, zs, acts = x, [], [x]
    for i, layer in enumerate(model.layers, start=1):
        W, b = layer.params["kernel"], layer.params["bias"]
        # nn/layers.py::Dense.forward, the lines the NumPy backend runs:
        z = ops.affine(a_prev, W, b)            # z = x @ W + b   (nn/ops.py::affine)
        a = layer.activation.forward(z)         # a = f(z)        (nn/activations.py)
        f = layer.activation.name
        x_name = "x" if i == 1 else f"a{i - 1}"
        say(describe(f"z{i} = {x_name} @ W{i} + b{i}", z))
        extra = f"   ({np.mean(a == 0):.1%} of entries are 0)" if f == "relu" else ""
        say(describe(f"a{i} = {f}(z{i})", a) + extra)
        zs.append(z)
        acts.append(a)
        a_prev = a
    p = acts[-1]
    loss = model.loss(y, p)                     # nn/losses.py::BinaryCrossentropy.__call__
    say(f"p = a3: predictions in [{p.min():.4f}, {p.max():.4f}], "
        f"{np.mean((p > 0.5) == (y > 0.5)):.1%} correct at threshold 0.5")
    say(f"L = binary_crossentropy(y, p) = {loss:.6f}    (ln 2 = {np.log(2):.6f}: "
        "a model that says 0.5 everywhere)")
    return zs, acts, loss


# ------------------------------------------------------------------ 3. backward pass

def backward_walk(model, zs, acts, y, say):
    """From dL/dz3 = (p - y)/n back to dL/dW1, with the same functions `_backward` calls."""
    heading(say, "3. Backward pass")
    n_layers = len(model.layers)
    p = acts[-1]
    last = model.layers[-1]
    # nn/losses.py::BinaryCrossentropy.fused_gradient: dL/dz3 = (p - y) / n
    dz = model.loss.fused_gradient(y, p, last.activation)
    say(describe(f"dL/dz{n_layers} = (p - y) / n", dz))
    grads = {}
    for i in range(n_layers, 0, -1):
        layer = model.layers[i - 1]
        if i < n_layers:
            # dL/dz_i = dL/da_i * f'(z_i)   (nn/activations.py::ReLU.backward etc.)
            dz = layer.activation.backward(acts[i], da)
            f = layer.activation.name
            extra = f"   ({np.mean(dz == 0):.1%} of entries are 0)" if f == "relu" else ""
            say(describe(f"dL/dz{i} = dL/da{i} * {f}'(z{i})", dz) + extra)
        x_in = acts[i - 1]
        name = "x" if i == 1 else f"a{i - 1}"
        # nn/layers.py::Dense._backward: dW = x^T dz, db = sum_rows dz, dx = dz W^T
        dW = ops.weight_grad(x_in, dz, rows_only=False)  # every row, to print them
        db = dz.sum(axis=0)
        if i == 1:
            live = np.flatnonzero(np.any(dW != 0, axis=1))
            say(describe(f"dL/dW{i} = {name}^T @ dL/dz{i}", dW, first=dW[live[0]]))
            say(f"{'':31}rows of dL/dW1 not zero: {live.size:,} of {dW.shape[0]:,} (the words "
                f"that occur in this batch); the row shown is word {live[0]}")
        else:
            say(describe(f"dL/dW{i} = {name}^T @ dL/dz{i}", dW))
        say(describe(f"dL/db{i} = sum_rows dL/dz{i}", db))
        grads[f"{layer.name}/kernel"], grads[f"{layer.name}/bias"] = dW, db
        if i > 1:
            da = dz @ layer.params["kernel"].T
            say(describe(f"dL/da{i - 1} = dL/dz{i} @ W{i}^T", da))
        else:
            starts = int(np.count_nonzero(x_in.indices == 1))
            say(f"{'':31}word 1 (the start marker) is in {starts} of {x_in.shape[0]} reviews: "
                f"row 1 of dL/dW1 vs dL/db1, max |difference| {np.max(np.abs(dW[1] - db)):.1e}")
            say(f"{'':31}(dL/dx would be {x_in.shape[0]} x {x_in.shape[1]:,} and is never "
                "needed: the first layer skips it)")

    # The model's own backward pass must give the very same arrays.
    p_model = model._forward(acts[0], training=True)
    model._backward(y, p_model)
    diff = max(float(np.max(np.abs(layer.grads[k] - grads[f"{layer.name}/{k}"])))
               for layer in model.layers for k in layer.grads)
    why = ("the same NumPy lines" if nn.backend.name() == "numpy" else
           "float32 rounding: the numba backend's fused kernels add in another order")
    say(f"model._backward gives the same gradients: max |difference| = {diff:.1e} ({why})")
    return grads, dz


# --------------------------------------------------- 4. why sigmoid + crossentropy fuse

def fused_demo(model, acts, y, say):
    """The fused dL/dz3 against the chained one, on the batch and on saturated outputs."""
    heading(say, "4. Sigmoid + crossentropy: dL/dz = (p - y) / n")
    loss, sigmoid = model.loss, model.layers[-1].activation
    p = acts[-1]
    unfused = sigmoid.backward(p, loss.gradient(y, p))  # dL/dp * p (1 - p)
    fused = loss.fused_gradient(y, p, sigmoid)
    say(f"on this batch, dL/dp * p(1-p) and (p - y)/n differ by at most "
        f"{np.max(np.abs(unfused - fused)):.1e} (float32 rounding)")
    z = np.array([[-20.0], [0.0], [20.0]], dtype=np.float32)
    t = np.array([[1.0], [1.0], [0.0]], dtype=np.float32)
    q = sigmoid.forward(z)
    mse = losses.mean_squared_error
    rows = {"chain  dL/dp * p(1-p)": sigmoid.backward(q, loss.gradient(t, q)),
            "fused  (p - y)/n": loss.fused_gradient(t, q, sigmoid),
            "mse    2(p - y)/n * p(1-p)": sigmoid.backward(q, mse.gradient(t, q))}
    say("three outputs, n = 3 (float32):   z = -20, y = 1 (wrong)   z = 0, y = 1   "
        "z = 20, y = 0 (wrong)")
    say((f"{'p = sigmoid(z)':<32}" + "".join(f"{v:<18.4g}" for v in q.ravel())).rstrip())
    for label, g in rows.items():
        say((f"{label:<32}" + "".join(f"{v:<18.4g}" for v in g.ravel())).rstrip())


# ------------------------------------------------------------- 5. sparse first layer

def sparse_demo(model, x, zs, dz1, say):
    """The first layer's kernels on 3 reviews of 6 words, then sparse vs dense on the batch."""
    heading(say, "5. The sparse first layer")
    tiny = vectorize_sequences([[1, 3, 3, 5], [0, 2, 3], [2, 4]], dimension=6)
    W = np.arange(12, dtype=np.float32).reshape(6, 2)
    b = np.array([0.5, -0.5], dtype=np.float32)
    delta = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    say("3 reviews over 6 words: [1, 3, 3, 5], [0, 2, 3], [2, 4]")
    say(f"indptr = {tiny.indptr.tolist()}   indices = {tiny.indices.tolist()}   "
        f"(nnz = {tiny.nnz}; the repeated 3 counts once)")
    say("as a dense matrix:\n" + _indent(tiny.toarray().astype(int)))
    say("W = 6 x 2, row j = [2j, 2j + 1];  b = [0.5, -0.5]")
    backend = nn.backend.get()  # nn/kernels/numpy.py or nn/kernels/numba/
    Z = backend.spmm(tiny.indptr, tiny.indices, None, W, b)  # None: every value is 1
    say(f"Z = X @ W + b = spmm(indptr, indices, None, W, b) on the {nn.backend.name()} "
        "backend:\n" + _indent(Z))
    same = np.array_equal(Z, tiny.toarray() @ W + b) and np.array_equal(
        Z, numpy_backend.spmm(tiny.indptr, tiny.indices, None, W, b))
    say(f"equal to the dense product and to nn/kernels/numpy.py::spmm: {same}")
    dW = backend.spmm_t(tiny.indptr, tiny.indices, None, delta, 6)
    say("delta = dL/dZ = [[1, 0], [0, 1], [1, 1]];  dW = X^T @ delta = spmm_t(...):\n"
        + _indent(dW))
    same = np.array_equal(dW, tiny.toarray().T @ delta) and np.array_equal(
        dW, numpy_backend.spmm_t(tiny.indptr, tiny.indices, None, delta, 6))
    say(f"equal to the dense product and to nn/kernels/numpy.py::spmm_t: {same}")
    say(f"work: {tiny.nnz} nonzeros x 2 units = {tiny.nnz * 2} additions, "
        f"instead of 3 x 6 x 2 = {3 * 6 * 2} multiply-adds")

    n, d = x.shape
    units = model.layers[0].units
    say(f"on the batch: {x.nnz:,} nonzeros x {units} units = {x.nnz * units:,} additions "
        f"per product, instead of {n} x {d:,} x {units} = {n * d * units:,} "
        f"({n * d / x.nnz:.0f}x fewer)")
    dense = x.toarray(np.float32)
    W1, b1 = model.layers[0].params["kernel"], model.layers[0].params["bias"]
    z_dense = ops.affine(dense, W1, b1)
    dW_dense = ops.weight_grad(dense, dz1)
    say(f"float32, sparse vs dense input: max |z1 difference| = "
        f"{np.max(np.abs(z_dense - zs[0])):.1e}, max |dW1 difference| = "
        f"{np.max(np.abs(dW_dense - ops.weight_grad(x, dz1, rows_only=False))):.1e} "
        "(summation order only)")


def _indent(a):
    return "\n".join("    " + line for line in np.array2string(np.asarray(a)).splitlines())


# ------------------------------------------------------------------ 6. gradient check

def pre_activations(model, x):
    """Each layer's z on x (no caching), in the model's dtype."""
    zs, a = [], x
    for layer in model.layers:
        z = ops.affine(a, layer.params["kernel"], layer.params["bias"])
        zs.append(z)
        a = layer.activation.forward(z)
    return zs


class BrokenReLU(activations.ReLU):
    """A deliberate bug for --broken-relu: backward forgets the [a > 0] mask."""

    def backward(self, a, da):
        return da


def gradient_check(seed, weights, x, y, args, say):
    """Backprop vs central differences on a float64 copy of ``weights``, on the whole batch;
    entries whose difference straddles a ReLU kink are reported apart. Returns what
    gradcheck.json holds."""
    heading(say, "6. Gradient check (float64): backprop vs central differences")
    model = build_model(seed, dtype="float64")
    model.set_weights(weights)                      # the walked-through weights, in float64
    if args.broken_relu:
        for layer in model.layers:
            if layer.activation.name == "relu":
                layer.activation = BrokenReLU()
        say("--broken-relu: the hidden layers' ReLU.backward returns dL/da unmasked (a bug)")
    y64 = y.astype(np.float64)
    h = 1e-4
    say(f"the same weights in float64; {len(y)} reviews; step h = {h:g}; "
        f"up to {args.check_entries} entries per parameter, nonzero gradients first")

    # ReLU kinks: how close does a hidden pre-activation come to 0, compared with how far
    # the difference stencil (w - 2h ... w + 2h) moves it?
    zs = pre_activations(model, x)
    for layer, z in zip(model.layers, zs):
        if layer.activation.name == "relu":
            say(f"{layer.name:<8} nearest pre-activation to the relu kink |z| = "
                f"{np.min(np.abs(z)):.1e}; {int(np.sum(np.abs(z) < 2 * h)):,} of {z.size:,} "
                f"within 2h")

    report = gradcheck.check_gradients(model, x, y64, max_entries=args.check_entries)
    say("")
    say(str(report))
    ok = report.max_rel_error < 1e-6
    say(f"-> {report.kinks} entries at a kink (a relu unit flips between w - 2h and w + 2h; "
        f"worst error there {report.max_rel_error_at_kinks:.1e}), left out")
    say(f"-> max relative error {report.max_rel_error:.1e} on the other entries: "
        f"{'backprop agrees with central differences' if ok else 'MISMATCH'}")

    # The sparse and the dense first-layer paths must give the same gradients. (After the
    # check: a large BLAS call leaves its threads spinning, which slows numba's for a while.)
    g_sparse = gradcheck.backprop_gradients(model, x, y64)
    g_dense = gradcheck.backprop_gradients(model, x.toarray(np.float64), y64)
    path_diff = max(float(np.max(np.abs(g_sparse[k] - g_dense[k]))) for k in g_sparse)
    say(f"\nbackprop gradients in float64, sparse vs dense input: max |difference| = "
        f"{path_diff:.1e}")

    return {"seed": args.seed, "dtype": "float64", "h": h, "max_entries": args.check_entries,
            "reviews": len(y), "sparse_vs_dense_max_abs_diff": path_diff,
            "max_rel_error": report.max_rel_error, "kinks": report.kinks,
            "max_rel_error_at_kinks": report.max_rel_error_at_kinks,
            "unverified": report.unverified,
            "rows": [{**r, "shape": list(r["shape"])} for r in report.rows]}


# --------------------------------------------------------------------- 7. RMSprop step

def rmsprop_step(model, words, say):
    """Apply the model's RMSprop to the gradients of section 3; show a few W1 entries."""
    heading(say, "7. One RMSprop step (Keras 3: epsilon inside the square root)")
    opt = model.optimizer
    lr, rho, eps = opt.learning_rate, opt.rho, opt.epsilon
    say(f"learning_rate = {lr:g}, rho = {rho:g}, epsilon = {eps:g}")
    layer = model.layers[0]
    W_before = layer.params["kernel"].copy()
    g = layer.grads["kernel"].copy()
    opt.apply(model._named_params())                # nn/optimizers.py::Optimizer.apply
    v = opt.slots[f"{layer.name}/kernel"]["velocity"]
    step = W_before - layer.params["kernel"]
    ag = np.abs(g).ravel()
    nz = np.flatnonzero(ag)

    def nearest(target):
        """The entry whose non-zero |g| is closest to ``target`` on a log scale."""
        return int(nz[np.argmin(np.abs(np.log(ag[nz] / target)))])

    picks = [("largest |g|", int(np.argmax(ag))),
             ("|g| near sqrt(eps/(1-rho))", nearest(np.sqrt(eps / (1 - rho)))),
             ("small |g|", nearest(1e-5)),
             ("g = 0 (word not in batch)", int(np.flatnonzero(ag == 0)[0]))]
    say(f"{'W1 entry':<42}{'g':>12}{'v':>12}{'step':>12}{'step / lr':>11}")
    for label, k in picks:
        j, u = divmod(k, g.shape[1])
        word = words.get(j, "?")
        say(f"{label + f' [{j},{u}] {word!r}':<42}{g.flat[k]:>12.3e}{v.flat[k]:>12.3e}"
            f"{step.flat[k]:>12.3e}{step.flat[k] / lr:>11.4f}")
    # What the formula says, in float64, for every entry at once:
    expected = lr * g.astype(np.float64) / np.sqrt((1 - rho) * g.astype(np.float64) ** 2 + eps)
    say(f"step = lr g / sqrt(v + eps) for every entry of W1: max |difference| = "
        f"{np.max(np.abs(step - expected)):.1e}")
    with np.errstate(divide="ignore", invalid="ignore"):
        no_eps = (lr * g) / np.sqrt(v)
    say(f"without epsilon: {int(np.isnan(no_eps).sum()):,} entries of W1 have g = 0 and v = 0 "
        "(words absent from the batch, or units off in every review with the word) and would "
        "compute 0/0 = nan; every other entry would step lr / sqrt(1-rho) whatever its |g|: "
        f"the {abs(g.flat[picks[2][1]]):.1e} entry as far as the "
        f"{abs(g.flat[picks[0][1]]):.1e} one")
    say(f"first step, |g| >> sqrt(eps/(1-rho)) = {np.sqrt(eps / (1 - rho)):.3g}: "
        f"|step| -> lr / sqrt(1-rho) = {lr / np.sqrt(1 - rho):.4g};  "
        f"|g| << it: |step| -> lr |g| / sqrt(eps) = |g| x {lr / np.sqrt(eps):.4g} "
        f"(sqrt(eps) = {np.sqrt(eps):.4g})")


# -------------------------------------------------------- 8. vanishing gradients

class GradNorms:
    """Callback: after every training step, the norm of each layer's kernel gradient."""

    def __init__(self):
        self.model = None
        self.norms = []

    def set_model(self, model):
        self.model = model

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append([float(np.linalg.norm(layer.grads["kernel"]))
                           for layer in self.model.layers])


def vanishing(x_batch, x_train, y_train, args, out, say):
    """Train relu, tanh and sigmoid models; tabulate and plot each layer's |dW| per step."""
    heading(say, "8. Vanishing gradients: relu vs tanh vs sigmoid hidden layers")
    depth = args.depth
    say(f"three models with {depth} hidden layers of 16, same seed and same initial kernels, "
        f"differing only in the hidden activation; {args.epochs} epochs on {len(y_train):,} "
        f"reviews, batch {args.batch_size}")
    results = {}
    for act in ACTIVATIONS:
        model = build_model(args.seed, act, depth=depth)
        slopes = []
        for layer, z in zip(model.layers[:-1], pre_activations(model, x_batch)):
            a = layer.activation.forward(z)
            slopes.append(float(layer.activation.backward(a, np.ones_like(a)).mean()))  # f'(z)
        rec = GradNorms()
        t0 = time.perf_counter()
        history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                            verbose=0, callbacks=[rec])
        norms = np.array(rec.norms)
        steps_per_epoch = len(norms) // args.epochs
        results[act] = {"mean_f_prime": slopes, "norms": norms.tolist(),
                        "last_epoch_mean": norms[-steps_per_epoch:].mean(axis=0).tolist(),
                        "loss": history.history["loss"], "accuracy": history.history["accuracy"],
                        "seconds": time.perf_counter() - t0}
    n_w = depth + 1
    say("mean f'(z) over the batch at initialisation, per hidden layer (the factor each layer's "
        "backward multiplies by):")
    say(f"{'hidden':<10}" + "".join(f"{f'layer {i}':>10}" for i in range(1, depth + 1)))
    for act, r in results.items():
        say(f"{act:<10}" + "".join(f"{v:>10.3f}" for v in r["mean_f_prime"]))
    say("|dW|, the norm sqrt(sum dW^2) of each layer's kernel gradient, at step 1 and averaged "
        "over the last epoch; then the last epoch's training loss and accuracy:")
    ws = "".join(f"{f'W{i}':>9}" for i in range(1, n_w + 1))
    say(f"{'':10}{'step 1':<{9 * n_w}}  last epoch")
    say(f"{'hidden':<10}{ws}  {ws}{'W1/W' + str(n_w) + ' @1':>11}{'loss':>8}{'acc':>8}")
    for act, r in results.items():
        first = r["norms"][0]
        say(f"{act:<10}" + "".join(f"{v:>9.4f}" for v in first) + "  "
            + "".join(f"{v:>9.4f}" for v in r["last_epoch_mean"])
            + f"{first[0] / first[-1]:>11.3g}{r['loss'][-1]:>8.4f}{r['accuracy'][-1]:>8.4f}")

    steps = np.arange(1, len(results["relu"]["norms"]) + 1)
    colors = {"relu": "tab:blue", "tanh": "tab:green", "sigmoid": "tab:red"}
    paths = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=100, sharey=True)
    for ax, act in zip(axes, ACTIVATIONS):
        norms = np.array(results[act]["norms"])
        for i in range(norms.shape[1]):
            ax.plot(steps, norms[:, i], label=f"layer {i + 1} kernel")
        ax.set_yscale("log")
        ax.set_title(f"hidden activation: {act}")
        ax.set_xlabel("training step")
        ax.legend()
    axes[0].set_ylabel("norm of dL/dW")
    fig.suptitle("Kernel-gradient norm of each layer, per step")
    fig.tight_layout()
    paths.append(out / "gradient_norms.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    n_w = len(results["relu"]["norms"][0])
    cols, rows = min(n_w, 3), -(-n_w // 3)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 4 * rows), dpi=100, sharey=True,
                             squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_w:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:n_w]):
        for act in ACTIVATIONS:
            ax.plot(steps, np.array(results[act]["norms"])[:, i], color=colors[act], label=act)
        ax.set_yscale("log")
        ax.set_title(f"layer {i + 1} kernel" + (" (input side)" if i == 0 else ""))
        ax.set_xlabel("training step")
        ax.legend()
    for ax in axes[::cols]:
        ax.set_ylabel("norm of dL/dW")
    fig.suptitle("The same norms, one panel per layer")
    fig.tight_layout()
    paths.append(out / "gradient_norms_by_layer.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    (out / "gradient_norms.json").write_text(json.dumps(results))
    return paths


# ---------------------------------------------------------------------------- main

# ------------------------------------------------------------- 9. the input gradient

def input_gradient_demo(x_train, y_train, words, args, say):
    """Train the notebook model, then explain its prediction for review 0 word by word."""
    heading(say, "9. The input gradient: which words moved the prediction")
    model = build_model(args.seed)
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    review = x_train[:1]
    p = float(model.predict(review)[0, 0])
    gradient = attribution.input_gradient(model, review)  # dp/dx at the review's words
    removed = attribution.occlusion(model, review)        # p - p without the word
    say(f"the notebook model after {args.epochs} epoch(s) on {len(y_train):,} reviews: "
        f"p(positive) = {p:.4f} for review 0 (label {int(y_train[0])}), {review.nnz} words")
    say(f"dp/dx = dz1 @ W1^T at those {review.nnz} words only: training never computes it "
        f"(it would be {x_train.shape[1]:,} numbers per review)")
    order = np.argsort(gradient.data)
    say(f"{'word':<16}{'dp/dx':>10}{'occlusion':>12}")
    for k in list(order[::-1][:5]) + list(order[:5]):
        word = words.get(int(review.indices[k]), "?")
        say(f"{word:<16}{gradient.data[k]:>+10.4f}{removed.data[k]:>+12.4f}")
    agree = np.mean(np.sign(gradient.data) == np.sign(removed.data))
    corr = np.corrcoef(gradient.data, removed.data)[0, 1]
    say(f"gradient vs occlusion over the {review.nnz} words: same sign for {agree:.0%}, "
        f"correlation {corr:.3f} (the gradient is occlusion's first-order estimate)")


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a, **k: None) if args.quiet else print
    start = time.perf_counter()
    if args.backend is not None:
        try:
            nn.set_backend(args.backend)
        except ImportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(f"backend: {nn.backend.name()}")
    out = Path(args.out)
    try:
        (train_data, train_labels), _ = imdb.load_data(path=args.data, num_words=NUM_WORDS)
        word_index = imdb.get_word_index(path=args.data)
    except (OSError, ValueError) as e:
        print(f"error: could not load the IMDB data.\n{e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    limit = len(train_data) if args.limit is None else min(args.limit, len(train_data))
    x_train = vectorize_sequences(train_data[:limit], dimension=NUM_WORDS)
    y_train = np.asarray(train_labels[:limit]).astype("float32")
    n = min(args.batch_size, limit)
    x, y = x_train[:n], y_train[:n].reshape(-1, 1)
    # Word number -> word, with load_data's defaults (index_from=3, start 1, out-of-vocab 2).
    words = {rank + 3: word for word, rank in word_index.items()}
    words.update({0: "<pad>", 1: "<start>", 2: "<oov>"})

    heading(say, "1. The batch and the model")
    say(f"{n} reviews (the first {n} of {limit:,} training reviews), {NUM_WORDS:,} words, "
        f"seed {args.seed}")
    say(f"review 0 (label {int(y[0, 0])}): "
        f"{imdb.decode_review(train_data[0], word_index)[2:100]}...")
    say(f"x: {x.shape} sparse multi-hot, {x.nnz:,} ones ({x.nnz / n:.1f} distinct words per "
        f"review, {x.nnz / (n * NUM_WORDS):.2%} of the entries); y: {y.shape}, "
        f"{y.mean():.1%} positive")
    model = build_model(args.seed)
    initial = model.get_weights()
    for i, layer in enumerate(model.layers, start=1):
        say(f"layer {i} = {layer.name:<8} {layer.activation.name:<8} W{i} "
            f"{str(layer.params['kernel'].shape):<12} b{i} {str(layer.params['bias'].shape):<7}"
            f"{layer.count_params():>8,} parameters")
    say(f"total {model.count_params():,} parameters; kernels glorot_uniform, biases zero")

    zs, acts, _ = forward_walk(model, x, y, say)
    _, dz1 = backward_walk(model, zs, acts, y, say)
    fused_demo(model, acts, y, say)
    sparse_demo(model, x, zs, dz1, say)
    report = gradient_check(args.seed, initial, x, y, args, say)
    (out / "gradcheck.json").write_text(json.dumps(report, indent=1))
    rmsprop_step(model, words, say)
    paths = vanishing(x, x_train, y_train, args, out, say)
    input_gradient_demo(x_train, y_train, words, args, say)

    worst = report["max_rel_error"]
    print(f"gradient check: max relative error {worst:.1e} on {n} reviews "
          f"({'ok' if worst < 1e-6 else 'MISMATCH'}), {report['kinks']} entries at a relu kink "
          f"left out (worst {report['max_rel_error_at_kinks']:.1e} there)")
    print(f"wrote {out / 'gradcheck.json'}, {out / 'gradient_norms.json'}, "
          + ", ".join(str(p) for p in paths))
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
