"""Which input features moved a prediction: the input gradient and occlusion.

Training runs the backward pass down to the first layer's weights and stops: the gradient with
respect to the input, ``dL/dx = dz W^T`` of the first layer, is never needed there (a
10,000-column multi-hot input would make it 10,000 numbers per review). `input_gradient` runs
the same hand-written backward pass one layer further, from the model's output ``p`` instead of
a loss, and for a sparse input computes it only at the features each row holds: "which words
pushed this review's p up or down", to first order. `occlusion` answers the exact question
"how much does p change if this one word is taken out", with one prediction per word.

Both take a model with a single output unit and return a result shaped like ``x``: for a
`nn.sparse.CSRMatrix`, a `CSRMatrix` with the same rows and columns whose values are the
attributions; for a dense array, an array (`occlusion`: zero where ``x`` is zero).
"""

import numpy as np

from . import ops
from .sparse import CSRMatrix


def input_gradient(model, x, batch_size=512):
    """d p / d x: the gradient of the model's output ``p`` (one unit) with respect to each
    input feature, by backprop from ``dp/dp = 1`` through every layer, the first one included.

    Parameters
    ----------
    model : a built `nn.models.Sequential` whose last layer has one unit
    x : CSRMatrix or array (n_samples, n_features), as ``model.predict`` takes it
    batch_size : int, rows per forward and backward pass

    Returns
    -------
    For a sparse ``x``, a `CSRMatrix` with ``x``'s rows and columns holding ``dp/dx_ij`` at
    each feature present (features absent from a row are not computed); for a dense ``x``, an
    array (n_samples, n_features). In the model's dtype.
    """
    x, n = _checked(model, x, "input_gradient")
    parts = []
    for start in range(0, n, batch_size):
        xb = ops.slice_rows(x, start, min(start + batch_size, n), model.dtype)
        active = [layer for layer in model.layers if layer.has_weights]  # Dropout: identity
        inputs = [xb]  # each layer's input, then the output p
        for layer in active:
            inputs.append(layer.forward(inputs[-1]))
        dp_da = np.ones_like(inputs[-1])  # dp/dp = 1
        for layer, x_in, a in zip(active[::-1], inputs[-2::-1], inputs[:0:-1]):
            dz = layer.activation.backward(a, dp_da)                  # dp/dz = dp/da * f'(z)
            dp_da = ops.input_grad(x_in, dz, layer.params["kernel"])  # dp/dx = dz W^T
        parts.append(dp_da)
    return _joined(x, parts)


def occlusion(model, x, batch_size=512):
    """p(x) minus p(x with one feature set to 0), for every feature present in ``x``: how
    much each word pushed ``p`` up (positive) or down (negative), exactly, with interactions.
    Costs one prediction per nonzero.

    Parameters and result as `input_gradient` (a dense ``x``'s zeros give 0).
    """
    x, n = _checked(model, x, "occlusion")
    sparse = x if isinstance(x, CSRMatrix) else CSRMatrix.from_dense(x)
    p = model.predict(x, batch_size=batch_size)[:, 0]
    without = _each_feature_removed(sparse)  # row k: x's row of nonzero k, without it
    p_without = model.predict(without if isinstance(x, CSRMatrix) else
                              without.toarray(model.dtype), batch_size=batch_size)[:, 0]
    rows = np.repeat(np.arange(n), np.diff(sparse.indptr))
    values = (p[rows] - p_without).astype(model.dtype)
    result = CSRMatrix._trusted(sparse.indptr, sparse.indices, sparse.shape, values)
    return result if isinstance(x, CSRMatrix) else result.toarray(model.dtype)


def _each_feature_removed(x):
    """A CSRMatrix with one row per nonzero k of ``x``: the row holding k, without k."""
    lengths = np.diff(x.indptr)
    row = np.repeat(np.arange(x.shape[0]), lengths)     # the row of each nonzero k
    kept = lengths[row] - 1                             # entries of copy k
    indptr = np.zeros(x.nnz + 1, np.int64)
    np.cumsum(kept, out=indptr[1:])
    copy = np.repeat(np.arange(x.nnz), kept)            # the copy each new entry belongs to
    offset = np.arange(indptr[-1]) - indptr[copy]       # 0 .. kept - 1 within its copy
    skipped = np.arange(x.nnz) - x.indptr[row]          # k's place in its row
    source = x.indptr[row[copy]] + offset + (offset >= skipped[copy])
    data = None if x.data is None else x.data[source]
    return CSRMatrix._trusted(indptr, x.indices[source], (x.nnz, x.shape[1]), data)


def _checked(model, x, what):
    if not model.built:
        raise ValueError(f"{what} needs a built (trained) model")
    if model.layers[-1].output_dim() != 1:
        raise ValueError(f"{what} explains a single output; the model's last layer has "
                         f"{model.layers[-1].output_dim()} units")
    return model._check_x(x, "x")


def _joined(x, parts):
    if not isinstance(x, CSRMatrix):
        return np.concatenate(parts) if parts else np.zeros(x.shape, np.float32)
    values = np.concatenate([part.data for part in parts]) if parts else np.zeros(0)
    return CSRMatrix._trusted(x.indptr, x.indices, x.shape, values)
