"""Optimizer steps against values worked out by hand (Keras 3's formulas), and the lazy
steps on row-sparse gradients against the dense steps.

RMSprop's tests run on both backends (`backend_in_use`): the NumPy backend runs the formulas
in nn/optimizers.py, the numba backend its fused compiled steps.

A layer fed a sparse batch stores an `nn.row_sparse.RowSparseGrad`; RMSprop then touches only
the batch's rows, decaying a skipped row's velocity by rho**k when it is next touched. The
lazy trajectory is run against the dense one (the same optimizer given the densified
gradient) over many steps of random sparse batches.
"""

import numpy as np
import pytest

import nn
from nn import layers, models, optimizers
from nn.row_sparse import RowSparseGrad
from nn.sparse import CSRMatrix

W0 = np.array([1.0, -2.0, 0.5], dtype=np.float32)
G1 = np.array([0.1, -0.4, 2.0], dtype=np.float32)
G2 = np.array([-0.3, 0.2, 1.0], dtype=np.float32)


def run(opt, grads):
    w = W0.copy()
    for g in grads:
        opt.apply([("w", w, g)])
    return w


def test_rmsprop_two_steps_by_hand(backend_in_use):
    lr, rho, eps = 0.001, 0.9, 1e-7
    w = W0.astype(np.float64)
    v = np.zeros(3)
    for g in (G1, G2):
        v = rho * v + (1 - rho) * g.astype(np.float64) ** 2
        w = w - lr * g / np.sqrt(v + eps)  # epsilon inside the square root (Keras 3)
    got = run(optimizers.RMSprop(), [G1, G2])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, w, rtol=1e-6)
    # First step by hand: v = 0.1 g^2, so w moves by lr * g / sqrt(0.1 g^2 + eps).
    first = run(optimizers.RMSprop(), [G1])
    np.testing.assert_allclose(first[0], 1.0 - 0.001 * 0.1 / np.sqrt(0.001 + 1e-7), rtol=1e-6)


def test_rmsprop_epsilon_sits_inside_the_root(backend_in_use):
    # g = 1e-4, epsilon = 1e-2: inside the root the step is lr * g / sqrt(0.1 g^2 + eps), about
    # 1e-6; PyTorch's placement, lr * g / (sqrt(0.1 g^2) + eps), would give about 1e-5.
    w = np.zeros(3, dtype=np.float32)
    optimizers.RMSprop(epsilon=1e-2).apply([("w", w, np.full(3, 1e-4, dtype=np.float32))])
    np.testing.assert_allclose(-w, 1e-3 * 1e-4 / np.sqrt(0.1 * 1e-8 + 1e-2), rtol=1e-5)


def test_rmsprop_accepts_keras2_lr():
    assert optimizers.RMSprop(lr=0.01).learning_rate == 0.01
    with pytest.raises(ValueError, match="lr is the old Keras 2 name"):
        optimizers.RMSprop(learning_rate=0.1, lr=0.01)


def test_sgd_plain_and_momentum_by_hand():
    np.testing.assert_allclose(run(optimizers.SGD(0.1), [G1, G2]), W0 - 0.1 * (G1 + G2),
                               rtol=1e-6)
    m1 = -0.1 * G1
    m2 = 0.9 * m1 - 0.1 * G2
    np.testing.assert_allclose(run(optimizers.SGD(0.1, momentum=0.9), [G1, G2]),
                               W0 + m1 + m2, rtol=1e-6)
    n1 = 0.9 * m1 - 0.1 * G1
    n2 = 0.9 * m2 - 0.1 * G2
    np.testing.assert_allclose(run(optimizers.SGD(0.1, momentum=0.9, nesterov=True), [G1, G2]),
                               W0 + n1 + n2, rtol=1e-6)


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    w, m, v = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for t, g in enumerate((G1, G2), start=1):
        g = g.astype(np.float64)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(), [G1, G2]), w, rtol=1e-6)
    # Adam's first step moves every weight by about lr, whatever the gradient's scale.
    np.testing.assert_allclose(np.abs(run(optimizers.Adam(), [G1]) - W0), 0.001, rtol=1e-3)


def test_adam_float32_step_size_is_rounded_as_keras_rounds_it():
    """alpha from float32 operations (Keras on float32 weights), not float64 rounded once: at
    lr 0.5 the two differ by tens of float32 ulps after one step."""
    f = np.float32
    beta_1_power, beta_2_power = f(0.9), f(0.999)  # t = 1: the rounded betas themselves
    alpha = f(0.5) * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)
    m, v = G1 * f(1 - 0.9), (G1 * G1) * f(1 - 0.999)
    expected = W0 - alpha * m / (np.sqrt(v) + f(1e-7))
    got = run(optimizers.Adam(learning_rate=0.5), [G1])
    assert got.tobytes() == expected.tobytes()


def test_slot_state_is_kept_per_parameter_and_counted(backend_in_use):
    opt = optimizers.RMSprop()
    a, b = W0.copy(), W0.copy()
    opt.apply([("a", a, G1), ("b", b, G2)])
    assert set(opt.slots) == {"a", "b"} and opt.iterations == 1
    np.testing.assert_allclose(opt.slots["a"]["velocity"], 0.1 * G1 ** 2, rtol=1e-6)


@pytest.mark.parametrize("name, cls", [("rmsprop", optimizers.RMSprop),
                                       ("sgd", optimizers.SGD), ("adam", optimizers.Adam)])
def test_get_by_name_gives_fresh_instances(name, cls):
    a, b = optimizers.get(name), optimizers.get(name.upper())
    assert isinstance(a, cls) and a is not b
    assert a.get_config()["name"] == name


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*rmsprop"):
        optimizers.get("adagrad")
    with pytest.raises(ValueError, match="learning_rate must be a positive number; got -1"):
        optimizers.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\]; got 1.5"):
        optimizers.RMSprop(rho=1.5)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\]; got -0.1"):
        optimizers.RMSprop(rho=-0.1)
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(3)


def test_rmsprop_rho_one_keeps_the_velocity_as_keras_does(backend_in_use):
    """rho = 1 (Keras accepts it): v = 1 v + 0 g^2 stays 0, so w -= lr g / sqrt(epsilon)."""
    opt = optimizers.RMSprop(learning_rate=0.001, rho=1.0)
    w = run(opt, [G1, G2])
    assert not opt.slots["w"]["velocity"].any()
    f = np.float32
    expected = W0 - f(0.001) * G1 / np.sqrt(f(1e-7)) - f(0.001) * G2 / np.sqrt(f(1e-7))
    np.testing.assert_allclose(w, expected, rtol=1e-6)


def test_rmsprop_one_float64_step_is_the_formula(backend_in_use):
    """One step by hand: epsilon inside the square root (Keras), not outside (PyTorch)."""
    w, g = np.array([1.0]), np.array([0.5])
    opt = optimizers.RMSprop(learning_rate=0.1, rho=0.9, epsilon=1e-2)
    opt.slots["w"] = {"velocity": np.array([0.2])}
    opt.apply([("w", w, g)])
    v_expected = 0.9 * 0.2 + 0.1 * 0.25
    np.testing.assert_allclose(opt.slots["w"]["velocity"], [v_expected], rtol=1e-15)
    np.testing.assert_allclose(w, [1.0 - 0.1 * 0.5 / np.sqrt(v_expected + 1e-2)], rtol=1e-15)


# -- Lazy steps on row-sparse gradients ------------------------------------------------------

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
def test_lazy_rmsprop_matches_dense_over_many_random_sparse_steps(backend_in_use, dtype,
                                                                  units):
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


def test_rows_touched_every_step_are_bitwise_dense(backend_in_use):
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


def test_a_skipped_row_is_decayed_by_rho_to_the_k(backend_in_use):
    w = np.zeros((2, 3), np.float32)
    opt = optimizers.RMSprop(learning_rate=0.1, rho=0.5)
    opt.slots["w"] = {"velocity": np.full((2, 3), 0.5, np.float32),
                      "velocity_step": np.array([10, 10], np.int32)}
    opt.iterations = 14
    opt.apply([("w", w, RowSparseGrad(np.array([1], np.int32), np.ones((1, 3), np.float32),
                                      (2, 3)))])
    v = opt.slots["w"]["velocity"]
    # Row 1 missed steps 10..13: v = 0.5 * 0.5**4, then the step: v = 0.5 v + 0.5 g**2.
    np.testing.assert_allclose(v[1], 0.5 * (0.5 * 0.5**4) + 0.5, rtol=1e-7)
    np.testing.assert_allclose(w[1], -0.1 / np.sqrt(v[1] + 1e-7), rtol=1e-6)
    assert opt.slots["w"]["velocity_step"].tolist() == [10, 15]
    assert np.all(v[0] == 0.5) and np.all(w[0] == 0)


def test_a_gradient_over_every_row_takes_the_dense_step_after_catching_up(backend_in_use):
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


def test_dense_steps_between_lazy_ones_first_apply_the_owed_decay(backend_in_use):
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


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_densifies_a_row_sparse_gradient_only_off_the_fast_path(backend_in_use, amsgrad,
                                                                      monkeypatch):
    """The numba backend steps the absent rows with g = 0 in its kernel (amsgrad excepted):
    the dense step's bits without the dense gradient."""
    rng = np.random.default_rng(4)
    grads = [random_row_sparse(rng, 40, 16, np.float32, 5) for _ in range(3)]
    w0 = rng.standard_normal((40, 16)).astype(np.float32)
    densified = []
    toarray = RowSparseGrad.toarray
    monkeypatch.setattr(RowSparseGrad, "toarray",
                        lambda g: densified.append(g) or toarray(g))
    _, _, w_rows, w_dense = run_pair(lambda: optimizers.Adam(0.01, amsgrad=amsgrad), grads, w0)
    assert w_rows.tobytes() == w_dense.tobytes()
    fast = backend_in_use.fused is not None and not amsgrad
    assert len(densified) == (3 if fast else 6)  # run_pair densifies each for its dense run


def test_adam_row_sparse_gradient_of_every_row_takes_the_dense_step(backend_in_use):
    rng = np.random.default_rng(5)
    grads = [random_row_sparse(rng, 24, 16, np.float32, 24) for _ in range(3)]  # all rows
    w0 = rng.standard_normal((24, 16)).astype(np.float32)
    _, _, w_rows, w_dense = run_pair(lambda: optimizers.Adam(0.01), grads, w0)
    assert w_rows.tobytes() == w_dense.tobytes()


def test_adam_step_size_follows_a_changed_learning_rate(backend_in_use):
    """alpha is computed once per step and kept; a learning rate (or beta) changed in
    between, even within one step, still takes effect."""
    opt = optimizers.Adam(0.01)
    opt.update_step(W0.copy(), G1, {"m": np.zeros(3, np.float32), "v": np.zeros(3, np.float32)})
    for name, value in (("learning_rate", 0.5), ("beta_1", 0.8), ("beta_2", 0.99)):
        setattr(opt, name, value)
        fresh = optimizers.Adam(**{k: getattr(opt, k) for k in
                                   ("learning_rate", "beta_1", "beta_2")})
        got, expected = W0.copy(), W0.copy()
        for o, w in ((opt, got), (fresh, expected)):
            o.update_step(w, G1, {"m": np.zeros(3, np.float32), "v": np.zeros(3, np.float32)})
        assert got.tobytes() == expected.tobytes(), name


def test_velocity_step_is_int32_and_widens_to_int64_before_it_would_overflow(backend_in_use):
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


# -- A model on wide sparse input ------------------------------------------------------------

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


def train_wide(x, y, seed=4):
    model = wide_model(seed=seed)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25)
    return model.get_weights()


class DenseRMSprop(optimizers.RMSprop):
    """RMSprop that densifies row-sparse gradients: the dense reference."""

    def update_rows(self, w, g, slots):
        self.update_step(w, g.toarray(), slots)


def test_a_model_on_wide_sparse_input_trains_as_with_dense_updates(backend_in_use):
    x, y = wide_batches()
    lazy = wide_model()
    dense = wide_model(optimizer=DenseRMSprop(learning_rate=0.01))
    lazy.fit(x, y, epochs=5, batch_size=8, verbose=0)
    dense.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert isinstance(lazy.layers[0].grads["kernel"], RowSparseGrad)
    assert "velocity_step" in lazy.optimizer.slots["dense/kernel"]
    for a, b in zip(lazy.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_lazy_state_survives_save_and_load(backend_in_use, tmp_path):
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


def test_training_on_wide_sparse_input_is_deterministic(backend_in_use):
    x, y = wide_batches()
    assert all(a.tobytes() == b.tobytes()
               for a, b in zip(train_wide(x, y), train_wide(x, y), strict=True))


def test_training_with_parallel_kernels_gives_the_serial_bits(monkeypatch, with_threads):
    """Every numba kernel of a training step (forward, row-sparse backward, lazy step) forced
    onto two threads gives the same weights, bit for bit, as on one."""
    numba = pytest.importorskip("numba")
    from nn.kernels.numba import _common

    x, y = wide_batches()
    with nn.use_backend("numba"):
        serial = train_wide(x, y)
        monkeypatch.setattr(_common, "PARALLEL_MIN_WORK", 0)
        parallel = with_threads(min(2, numba.config.NUMBA_NUM_THREADS), train_wide, x, y)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(serial, parallel, strict=True))


# -- Keras's options: clipping, weight decay, centered, momentum, amsgrad ---------------------

OPTION_FACTORIES = {
    "rmsprop clipnorm": lambda: optimizers.RMSprop(0.01, clipnorm=0.5),
    "rmsprop clipvalue": lambda: optimizers.RMSprop(0.01, clipvalue=0.1),
    "rmsprop global_clipnorm": lambda: optimizers.RMSprop(0.01, global_clipnorm=0.7),
    "rmsprop weight_decay": lambda: optimizers.RMSprop(0.01, weight_decay=0.05),
    "rmsprop centered": lambda: optimizers.RMSprop(0.01, centered=True),
    "rmsprop momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5),
    "rmsprop centered momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "sgd weight_decay": lambda: optimizers.SGD(0.1, weight_decay=0.05),
    "sgd clipnorm": lambda: optimizers.SGD(0.1, clipnorm=0.5),
    "adam amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adam global_clipnorm weight_decay": lambda: optimizers.Adam(0.01, global_clipnorm=0.7,
                                                                 weight_decay=0.05),
}


@pytest.mark.parametrize("option", OPTION_FACTORIES)
def test_an_option_on_a_row_sparse_gradient_gives_the_dense_result_exactly(backend_in_use,
                                                                           option):
    """A clip or a weight decay needs every row: the row-sparse gradient is densified and
    the dense step taken, so the weights are those of the dense run, bit for bit."""
    rng = np.random.default_rng(11)
    grads = [random_row_sparse(rng, 40, 16, np.float32, 5) for _ in range(30)]
    w0 = rng.standard_normal((40, 16)).astype(np.float32)
    lazy, dense, w_lazy, w_dense = run_pair(OPTION_FACTORIES[option], grads, w0)
    assert w_lazy.tobytes() == w_dense.tobytes()
    assert "velocity_step" not in lazy.slots["w"]
    touched = np.unique(np.concatenate([g.rows for g in grads]))
    never = np.setdiff1d(np.arange(40), touched)
    if "weight_decay" in option:  # the decay moves rows that never had a gradient
        assert not np.array_equal(w_lazy[never], w0[never])


def test_an_option_after_lazy_steps_first_applies_the_owed_decay(backend_in_use):
    """Weight decay switched on over a lazily stepped velocity: the dense step catches the
    velocity up first, as it does for a dense batch."""
    rng = np.random.default_rng(12)
    grads = [random_row_sparse(rng, 20, 5, np.float32, 4) for _ in range(20)]
    w0 = rng.standard_normal((20, 5)).astype(np.float32)
    lazy, dense = optimizers.RMSprop(0.01), optimizers.RMSprop(0.01)
    w_lazy, w_dense = w0.copy(), w0.copy()
    for step, g in enumerate(grads):
        if step == 10:
            lazy.weight_decay = dense.weight_decay = 0.05
        lazy.apply([("w", w_lazy, g)])
        dense.apply([("w", w_dense, g.toarray())])
    np.testing.assert_allclose(w_lazy, w_dense, rtol=2e-6)
    assert "velocity_step" not in lazy.slots["w"]


@pytest.mark.parametrize("option", OPTION_FACTORIES)
def test_an_option_gives_the_same_bits_on_both_backends(option):
    pytest.importorskip("numba")
    rng = np.random.default_rng(13)
    grads = [(rng.standard_normal((8, 21)).astype(np.float32),
              rng.standard_normal(21).astype(np.float32)) for _ in range(10)]
    results = []
    for name in ("numpy", "numba"):
        with nn.use_backend(name):
            opt = OPTION_FACTORIES[option]()
            kernel = np.ones((8, 21), np.float32)
            bias = np.zeros(21, np.float32)
            for g_kernel, g_bias in grads:
                opt.apply([("d/kernel", kernel, g_kernel.copy()), ("d/bias", bias, g_bias.copy())])
            results.append(kernel.tobytes() + bias.tobytes())
    assert results[0] == results[1]


def test_clipping_leaves_the_layers_gradients_alone():
    g = np.array([3.0, 4.0], np.float32)
    w = np.zeros(2, np.float32)
    optimizers.SGD(1.0, clipnorm=1.0).apply([("w", w, g)])
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-6)
    assert g.tolist() == [3.0, 4.0]


def test_global_clipnorm_scales_every_gradient_by_one_norm():
    a, b = np.zeros(1, np.float32), np.zeros(1, np.float32)
    optimizers.SGD(1.0, global_clipnorm=1.0).apply([("a", a, np.array([3.0], np.float32)),
                                                    ("b", b, np.array([4.0], np.float32))])
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8], rtol=1e-6)
    small = np.zeros(1, np.float32)  # within the norm: unchanged
    optimizers.SGD(1.0, global_clipnorm=10.0).apply([("s", small, np.array([3.0], np.float32))])
    np.testing.assert_allclose(small, [-3.0], rtol=1e-6)


def test_weight_decay_is_decoupled_from_the_gradient():
    """w -= w * weight_decay * lr before the step: Adam's moments never see the decay."""
    w = np.array([2.0, -4.0], np.float32)
    opt = optimizers.Adam(learning_rate=0.1, weight_decay=0.5)
    opt.apply([("w", w, np.zeros(2, np.float32))])
    np.testing.assert_allclose(w, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-6)
    assert not opt.slots["w"]["m"].any() and not opt.slots["w"]["v"].any()


def test_exclude_from_weight_decay_by_name_and_by_array():
    kernel, bias, other = (np.ones(2, np.float32) for _ in range(3))
    zero = np.zeros(2, np.float32)
    opt = optimizers.SGD(1.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[other], var_names=["bias"])
    opt.apply([("dense/kernel", kernel, zero), ("dense/bias", bias, zero),
               ("dense_1/other", other, zero)])
    assert kernel.tolist() == [0.5, 0.5] and bias.tolist() == [1, 1] and other.tolist() == [1, 1]
    # the array is remembered by its name, so the config (and a saved model) keeps it
    config = opt.get_config()
    assert config["exclude_from_weight_decay"] == ["bias", "^dense_1/other$"]
    again = optimizers.from_config(config)
    fresh = np.ones(2, np.float32)
    again.apply([("dense_1/other", fresh, zero), ("dense_1/otherwise", kernel, zero)])
    assert fresh.tolist() == [1, 1] and kernel.tolist() == [0.25, 0.25]


def test_options_are_saved_and_loaded_with_the_model(backend_in_use, tmp_path):
    x, y = wide_batches()
    for opt in (optimizers.RMSprop(0.01, centered=True, momentum=0.5, clipnorm=1.0,
                                   weight_decay=0.01),
                optimizers.Adam(0.01, amsgrad=True, global_clipnorm=0.5, weight_decay=0.01),
                optimizers.SGD(0.01, momentum=0.9, clipvalue=0.01)):
        opt.exclude_from_weight_decay(var_names=["bias"])
        a = wide_model(optimizer=opt)
        a.fit(x, y, epochs=1, batch_size=16, verbose=0)
        a.save(tmp_path / "m.npz")
        b = models.load_model(tmp_path / "m.npz")
        assert b.optimizer.get_config() == a.optimizer.get_config()
        assert b.optimizer.get_config()["exclude_from_weight_decay"] == ["bias"]
        assert set(b.optimizer.slots["dense/kernel"]) == set(opt.slot_names)
        for model in (a, b):
            model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            assert wa.tobytes() == wb.tobytes()


@pytest.mark.parametrize("call, message", [
    (lambda: optimizers.SGD(clipnorm=0), r"clipnorm must be a positive number; got 0; pass None"),
    (lambda: optimizers.Adam(clipvalue=-1.0), r"clipvalue must be a positive number; got -1.0"),
    (lambda: optimizers.RMSprop(global_clipnorm=float("nan")),
     r"global_clipnorm must be a positive number; got nan"),
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=0.5),
     r"only one of clipnorm, clipvalue and global_clipnorm can be set; got clipnorm=1.0, "
     r"clipvalue=0.5"),
    (lambda: optimizers.Adam(weight_decay=-0.1), r"weight_decay must be a number >= 0; got -0.1"),
    (lambda: optimizers.RMSprop(weight_decay="0.1"), r"weight_decay must be a number >= 0"),
    (lambda: optimizers.RMSprop(momentum=1.5), r"momentum must be in \[0, 1\]; got 1.5"),
    (lambda: optimizers.RMSprop(momentum=-0.5), r"momentum must be in \[0, 1\]; got -0.5"),
    (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\); got 1.0"),
    (lambda: optimizers.SGD().exclude_from_weight_decay(var_names=["("]),
     r"var_names holds '\(', not a regular expression"),
])
def test_bad_option_values_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_exclusions_are_refused():
    with pytest.raises(TypeError, match=r"var_names must be a list of strings, e.g. \['bias'\]; "
                                        r"got 'bias'"):
        optimizers.SGD().exclude_from_weight_decay(var_names="bias")
    with pytest.raises(TypeError, match="var_list must be a list of parameter arrays"):
        optimizers.SGD().exclude_from_weight_decay(var_list=["dense/bias"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'use_ema'"):
        optimizers.Adam(use_ema=True)
