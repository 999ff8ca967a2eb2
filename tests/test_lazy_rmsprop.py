"""Row-sparse gradients and lazy optimizer steps compute what the dense steps compute.

A layer fed a sparse batch stores an `nn.sparse.RowSparseGrad`; RMSprop then touches only
the batch's rows, decaying a skipped row's velocity by rho**k when it is next touched. Here
the lazy trajectory is run against the dense one (the same optimizer given the densified
gradient) over many steps of random sparse batches.
"""

import numpy as np
import pytest

from nn import layers, models, optimizers
from nn.sparse import CSRMatrix, RowSparseGrad
from helpers import with_threads

# "To float32 rounding": a few units in the last place of the weights (|w| ~ 1), or of the
# value itself when it is large.
RTOL = {np.float32: 2e-6, np.float64: 1e-13}
ATOL = {np.float32: 2e-7, np.float64: 1e-15}


def random_row_sparse(rng, n_features, units, dtype, touched):
    """A RowSparseGrad with ``touched`` random distinct rows."""
    rows = np.sort(rng.choice(n_features, size=touched, replace=False)).astype(np.int32)
    values = rng.standard_normal((touched, units)).astype(dtype)
    return RowSparseGrad(rows, values, (n_features, units))


def run_pair(optimizer_factory, grads, w0):
    """The same optimizer run lazily (row-sparse grads) and densely (densified grads)."""
    lazy, dense = optimizer_factory(), optimizer_factory()
    w_lazy, w_dense = w0.copy(), w0.copy()
    for g in grads:
        lazy.apply([("w", w_lazy, g)])
        dense.apply([("w", w_dense, g.toarray())])
    return lazy, dense, w_lazy, w_dense


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("units", [1, 16, 21])
def test_lazy_rmsprop_matches_dense_over_many_random_sparse_steps(dtype, units):
    rng = np.random.default_rng(units)
    n_features = 300
    # Batches touch between 1 and 60 of 300 rows: most rows skip many steps in a row.
    grads = [random_row_sparse(rng, n_features, units, dtype, rng.integers(1, 60))
             for _ in range(400)]
    w0 = rng.standard_normal((n_features, units)).astype(dtype)
    lazy, dense, w_lazy, w_dense = run_pair(
        lambda: optimizers.RMSprop(learning_rate=0.01), grads, w0)
    np.testing.assert_allclose(w_lazy, w_dense, rtol=RTOL[dtype], atol=ATOL[dtype])
    ulps = np.abs(w_lazy - w_dense) / np.spacing(np.maximum(np.abs(w_dense), 1).astype(dtype))
    assert ulps.max() <= 4, ulps.max()
    v_lazy = lazy.get_slot("w", "velocity")
    v_dense = dense.get_slot("w", "velocity")
    np.testing.assert_allclose(v_lazy, v_dense, rtol=50 * RTOL[dtype], atol=1e-30)
    # The lazy state itself lags: untouched rows still owe their decay.
    assert not np.array_equal(lazy.slots["w"]["velocity"], v_dense)
    assert lazy.iterations == dense.iterations == 400
    touched = np.unique(np.concatenate([g.rows for g in grads]))
    never = np.setdiff1d(np.arange(n_features), touched)
    assert np.array_equal(w_lazy[never], w0[never]) and np.array_equal(w_dense[never], w0[never])


def test_rows_touched_every_step_are_bitwise_dense():
    """k = 1 skipped step decays by rho itself: no rounding differs from the dense step."""
    rng = np.random.default_rng(0)
    rows = np.array([0, 3, 4], np.int32)
    grads = [RowSparseGrad(rows, rng.standard_normal((3, 16)).astype(np.float32), (6, 16))
             for _ in range(50)]
    w0 = rng.standard_normal((6, 16)).astype(np.float32)
    lazy, dense, w_lazy, w_dense = run_pair(optimizers.RMSprop, grads, w0)
    assert w_lazy.tobytes() == w_dense.tobytes()
    v_dense = dense.slots["w"]["velocity"]
    assert lazy.slots["w"]["velocity"][rows].tobytes() == v_dense[rows].tobytes()


def test_a_gradient_over_every_row_takes_the_dense_step_after_catching_up():
    rng = np.random.default_rng(1)
    all_rows = np.arange(8, dtype=np.int32)
    grads = [random_row_sparse(rng, 8, 4, np.float32, 3) for _ in range(10)]
    grads += [RowSparseGrad(all_rows, rng.standard_normal((8, 4)).astype(np.float32), (8, 4))]
    grads += [random_row_sparse(rng, 8, 4, np.float32, 2) for _ in range(10)]
    w0 = rng.standard_normal((8, 4)).astype(np.float32)
    lazy, dense, w_lazy, w_dense = run_pair(optimizers.RMSprop, grads, w0)
    np.testing.assert_allclose(w_lazy, w_dense, rtol=2e-6)
    np.testing.assert_allclose(lazy.get_slot("w", "velocity"), dense.get_slot("w", "velocity"),
                               rtol=1e-5)


def test_dense_steps_between_lazy_ones_first_apply_the_owed_decay():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((20, 5)).astype(np.float32)
    lazy, dense = optimizers.RMSprop(), optimizers.RMSprop()
    w_lazy, w_dense = w0.copy(), w0.copy()
    for step in range(30):
        g = random_row_sparse(rng, 20, 5, np.float32, 4)
        as_dense = step % 7 == 6  # now and then the same model sees a dense batch
        lazy.apply([("w", w_lazy, g.toarray() if as_dense else g)])
        dense.apply([("w", w_dense, g.toarray())])
    np.testing.assert_allclose(w_lazy, w_dense, rtol=2e-6)
    np.testing.assert_allclose(lazy.get_slot("w", "velocity"), dense.get_slot("w", "velocity"),
                               rtol=1e-5)


def test_plain_sgd_rows_are_exact_and_momentum_and_adam_densify():
    rng = np.random.default_rng(3)
    grads = [random_row_sparse(rng, 40, 16, np.float32, 5) for _ in range(30)]
    w0 = rng.standard_normal((40, 16)).astype(np.float32)
    for factory in (lambda: optimizers.SGD(0.1), lambda: optimizers.SGD(0.1, momentum=0.9),
                    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                    optimizers.Adam):
        _, _, w_lazy, w_dense = run_pair(factory, grads, w0)
        assert w_lazy.tobytes() == w_dense.tobytes(), factory()


def test_row_sparse_grad_looks_dense_to_numpy():
    g = RowSparseGrad(np.array([1, 3], np.int32), np.ones((2, 2), np.float32), (4, 2))
    dense = np.zeros((4, 2), np.float32)
    dense[[1, 3]] = 1
    assert np.array_equal(g.toarray(), dense) and np.array_equal(np.asarray(g), dense)
    assert isinstance(g.copy(), np.ndarray) and np.array_equal(g.copy(), dense)
    assert np.linalg.norm(g) == 2.0 and np.max(np.abs(g - dense)) == 0
    assert g.shape == (4, 2) and g.dtype == np.float32 and g.ndim == 2 and g.size == 8
    assert "rows=2" in repr(g)


def wide_batches(n_features=5000, n=96, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([np.sort(rng.choice(n_features, k, replace=False))
                              for k in lengths]).astype(np.int32)
    x = CSRMatrix(indptr, indices, (n, n_features))
    y = (rng.random(n) < 0.5).astype(np.float32)
    return x, y


def wide_model(seed=0, optimizer=None):
    model = models.Sequential(seed=seed)
    model.add(layers.Dense(16, activation="relu", input_shape=(5000,)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizer or optimizers.RMSprop(learning_rate=0.01),
                  loss="binary_crossentropy")
    return model


class DenseRMSprop(optimizers.RMSprop):
    """RMSprop that densifies row-sparse gradients: the dense reference."""

    def update_rows(self, w, g, slots):
        self.update_step(w, g.toarray(), slots)


def test_a_model_on_wide_sparse_input_trains_as_with_dense_updates():
    x, y = wide_batches()
    lazy = wide_model()
    dense = wide_model(optimizer=DenseRMSprop(learning_rate=0.01))
    lazy.fit(x, y, epochs=5, batch_size=8, verbose=0)
    dense.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert isinstance(lazy.layers[0].grads["kernel"], RowSparseGrad)
    assert "velocity_step" in lazy.optimizer.slots["dense/kernel"]
    for a, b in zip(lazy.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_lazy_state_survives_save_and_load(tmp_path):
    x, y = wide_batches()
    a = wide_model()
    a.fit(x, y, epochs=2, batch_size=8, verbose=0)
    a.save(tmp_path / "m.npz")
    b = models.load_model(tmp_path / "m.npz")
    assert np.array_equal(b.optimizer.slots["dense/kernel"]["velocity_step"],
                          a.optimizer.slots["dense/kernel"]["velocity_step"])
    for model in (a, b):
        for start in range(0, 48, 8):
            model.train_on_batch(x[start:start + 8], y[start:start + 8])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.tobytes() == wb.tobytes()


def test_training_on_wide_sparse_input_is_deterministic():
    x, y = wide_batches()

    def train():
        model = wide_model(seed=4)
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
        return model.get_weights()

    assert all(a.tobytes() == b.tobytes() for a, b in zip(train(), train()))


def test_training_with_parallel_kernels_gives_the_serial_bits(monkeypatch):
    """Every kernel of a training step (forward, row-sparse backward, lazy step) forced onto
    two threads gives the same weights, bit for bit, as on one."""
    import numba

    from nn import kernels
    x, y = wide_batches()

    def train():
        model = wide_model(seed=4)
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
        return model.get_weights()

    serial = train()
    monkeypatch.setattr(kernels._common, "PARALLEL_MIN_WORK", 0)
    parallel = with_threads(min(2, numba.config.NUMBA_NUM_THREADS), train)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(serial, parallel, strict=True))


def test_velocity_step_is_int32_and_widens_to_int64_before_it_would_overflow():
    rng = np.random.default_rng(7)
    grads = [random_row_sparse(rng, 20, 16, np.float32, 5) for _ in range(3)]
    w0 = rng.standard_normal((20, 16)).astype(np.float32)
    near = np.iinfo(np.int32).max - 3
    runs = {}
    for start in (0, near):
        opt, w = optimizers.RMSprop(learning_rate=0.01), w0.copy()
        opt.iterations = start
        dtypes = []
        for g in grads:
            opt.apply([("w", w, g)])
            dtypes.append(opt.slots["w"]["velocity_step"].dtype)
        runs[start] = w
        if start == 0:
            assert dtypes == [np.int32] * 3
        else:  # steps near - 1, near, near + 1: the last would not fit next time
            assert dtypes[0] == np.int32 and dtypes[-1] == np.int64
            assert opt.slots["w"]["velocity_step"].max() == near + 3
    # The step count only decides the decay owed, and both runs skip the same steps.
    assert runs[0].tobytes() == runs[near].tobytes()
