"""nn's optimizers held against Keras 3: the golden values of Keras's own tests, and live
cross-checks against the installed Keras.

The golden tests take their figures and tolerances from Keras's test files (each names the
Keras test it comes from; the test code is ours) and need no Keras. The live checks run the
same initial weights and gradients through nn and Keras for several steps, option by option,
and count the float32 units in the last place between the two; they skip, with a notice,
where keras is not installed. Both run on both backends (`backend_in_use`).

Not carried over, because nn has no such feature: EMA (adam_test.py::test_ema,
::test_ema_overwrite_frequency), Embedding layers (adam_test.py::test_clipnorm_indexed_slices;
its nn counterpart, a clip on a sparse first layer's row-sparse gradient, is in
tests/test_optimizers.py) and Keras's optimizer variables (sgd_test.py::test_single_step's
``optimizer.variables``).
"""

import numpy as np
import pytest

from nn import optimizers

# Keras's test inputs: four weights and their gradient (test_single_step), ten weights at 1,
# a first gradient of 0.01 and then 0.1, 0.2, ..., 1.0 (test_correctness_with_golden).
SINGLE_W = [1.0, 2.0, 3.0, 4.0]
SINGLE_G = [1.0, 6.0, 7.0, 2.0]
FIRST_G = np.full(10, 0.01, np.float32)
LATER_G = np.arange(0.1, 1.1, 0.1, dtype=np.float32)  # as keras.ops.arange(0.1, 1.1, 0.1)


def single_step(optimizer):
    w = np.array(SINGLE_W, np.float32)
    optimizer.apply([("w", w, np.array(SINGLE_G, np.float32))])
    return w


def golden_trajectory(optimizer, golden):
    """Keras's test_correctness_with_golden: after the 0.01 step, check, then step with
    0.1 ... 1.0, five times; Keras's tolerance rtol = atol = 5e-4."""
    x = np.ones(10, np.float32)
    optimizer.apply([("x", x, FIRST_G.copy())])
    for row in golden:
        np.testing.assert_allclose(x, row, rtol=5e-4, atol=5e-4)
        optimizer.apply([("x", x, LATER_G.copy())])


OPTIMIZERS = {"rmsprop": optimizers.RMSprop, "sgd": optimizers.SGD, "adam": optimizers.Adam}


# keras/src/optimizers/rmsprop_test.py::test_single_step
def test_rmsprop_single_step(backend_in_use):
    np.testing.assert_allclose(single_step(optimizers.RMSprop(learning_rate=0.5)),
                               [-0.5811, 0.4189, 1.4189, 2.4189], rtol=1e-4, atol=1e-4)


# keras/src/optimizers/sgd_test.py::test_single_step
def test_sgd_single_step(backend_in_use):
    np.testing.assert_allclose(single_step(optimizers.SGD(learning_rate=0.5)),
                               [0.5, -1.0, -0.5, 3.0], rtol=1e-4, atol=1e-4)


# keras/src/optimizers/adam_test.py::test_single_step
def test_adam_single_step(backend_in_use):
    np.testing.assert_allclose(single_step(optimizers.Adam(learning_rate=0.5)),
                               [0.5, 1.5, 2.5, 3.5], rtol=1e-4, atol=1e-4)


# keras/src/optimizers/rmsprop_test.py::test_correctness_with_golden
def test_rmsprop_centered_golden(backend_in_use):
    golden = np.tile([[0.9967], [0.9933], [0.9908], [0.9885], [0.9864]], (1, 10))
    golden_trajectory(optimizers.RMSprop(centered=True), golden)


# keras/src/optimizers/sgd_test.py::test_correctness_with_golden
def test_sgd_nesterov_golden(backend_in_use):
    golden = np.array(
        [[0.9999] * 10,
         [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
         [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
         [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
         [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599]])
    golden_trajectory(optimizers.SGD(nesterov=True), golden)


# keras/src/optimizers/adam_test.py::test_correctness_with_golden
def test_adam_amsgrad_golden(backend_in_use):
    golden = np.tile([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))
    golden_trajectory(optimizers.Adam(amsgrad=True), golden)


# keras/src/optimizers/{rmsprop,sgd,adam}_test.py::test_weight_decay
@pytest.mark.parametrize("name", ["rmsprop", "sgd", "adam"])
def test_weight_decay(backend_in_use, name):
    """Three optimizers (lr 1, weight decay 0.004) with zero gradients: var1 is decayed by
    each, "exclude" is excluded by name and var3 by the array itself."""
    cls = OPTIMIZERS[name]
    var1, var2, var3 = (np.array([2.0], np.float32) for _ in range(3))
    zero = np.zeros(1, np.float32)
    optimizer_1 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_1.apply([("var1", var1, zero)])
    optimizer_2 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_2.exclude_from_weight_decay(var_names=["exclude"])
    optimizer_2.apply([("var1", var1, zero), ("exclude", var2, zero)])
    optimizer_3 = cls(learning_rate=1.0, weight_decay=0.004)
    optimizer_3.exclude_from_weight_decay(var_list=[var3])
    optimizer_3.apply([("var1", var1, zero), ("var3", var3, zero)])
    # Keras: assertAlmostEqual(..., decimal=6), i.e. round(a - b, 6) == 0
    assert round(float(var1[0]) - 1.9760959, 6) == 0
    assert round(float(var2[0]) - 2.0, 6) == 0
    assert round(float(var3[0]) - 2.0, 6) == 0


# keras/src/optimizers/{rmsprop,sgd,adam}_test.py::test_clip_norm and ::test_clip_value
@pytest.mark.parametrize("name", ["rmsprop", "sgd", "adam"])
@pytest.mark.parametrize("option, expected", [("clipnorm", [2**0.5 / 2, 2**0.5 / 2]),
                                              ("clipvalue", [1.0, 1.0])])
def test_clip(name, option, expected):
    optimizer = OPTIMIZERS[name](**{option: 1})
    clipped = optimizer._clip_gradients([np.array([100.0, 100.0])])
    # Keras's assertAllClose defaults: rtol = atol = 1e-6
    np.testing.assert_allclose(clipped[0], expected, rtol=1e-6, atol=1e-6)


# keras/src/optimizers/sgd_test.py::test_invalid_momentum
def test_sgd_invalid_momentum():
    for momentum in (-1.0, 2.0):
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
            optimizers.SGD(momentum=momentum)


# keras/src/optimizers/{rmsprop,sgd,adam}_test.py::test_config
@pytest.mark.parametrize("name, settings", [
    ("rmsprop", dict(learning_rate=0.5, rho=0.8, momentum=0.05, epsilon=1e-6, centered=True)),
    ("sgd", dict(learning_rate=0.5, momentum=0.06, nesterov=True, weight_decay=0.004)),
    ("adam", dict(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5, amsgrad=True)),
])
def test_config_round_trip(name, settings):
    optimizer = OPTIMIZERS[name](**settings)
    config = optimizer.get_config()
    assert {k: config[k] for k in settings} == settings
    again = optimizers.from_config(config)
    assert type(again) is type(optimizer) and again.get_config() == config


# -- Live cross-checks against installed Keras -----------------------------------------------


def max_ulps(a, b):
    """The largest difference between two float32 arrays, in units in the last place of
    the larger magnitude."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    scale = np.spacing(np.maximum(np.abs(a), np.abs(b)))
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)) / scale))


# (optimizer name, settings)
CASES = [
    ("sgd", dict(learning_rate=0.1)),
    ("sgd", dict(learning_rate=0.1, momentum=0.9)),
    ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    ("rmsprop", dict(learning_rate=0.01)),
    ("rmsprop", dict(learning_rate=0.01, rho=1.0)),
    ("rmsprop", dict(learning_rate=0.01, centered=True)),
    ("rmsprop", dict(learning_rate=0.01, momentum=0.5)),
    ("rmsprop", dict(learning_rate=0.01, momentum=0.5, centered=True)),
    ("adam", dict(learning_rate=0.001)),
    ("adam", dict(learning_rate=0.5)),
    ("adam", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.67, amsgrad=True)),
]
# Each option with the largest difference allowed, in float32 ulps, after STEPS steps. Every
# operation is the same, in the same order and dtype, so the weights agree to the bit, except
# where a gradient's norm is a sum: TensorFlow sums in an order of its own, so the norm and
# the scale may differ by an ulp, which later steps carry (measured: up to 12 ulps after 6
# RMSprop steps with momentum, 3 for Adam).
OPTIONS = [(dict(), 0), (dict(clipnorm=0.5), 16), (dict(clipvalue=0.1), 0),
           (dict(global_clipnorm=0.7), 16), (dict(weight_decay=0.05), 0)]
STEPS = 6


def keras_optimizer(keras, name, settings):
    cls = {"sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
           "adam": keras.optimizers.Adam}[name]
    settings = {k: float(v) if k == "momentum" else v for k, v in settings.items()}
    return cls(**settings)


def trajectories(keras, name, settings, exclude=None):
    """The kernel (5, 3) and bias (3,) after `STEPS` steps of the same gradients, by Keras
    and by nn."""
    rng = np.random.default_rng(1)
    w0 = {"kernel": rng.standard_normal((5, 3)).astype(np.float32),
          "bias": rng.standard_normal(3).astype(np.float32)}
    grads = [{k: (2 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in w0.items()}
             for _ in range(STEPS)]
    k_vars = {k: keras.Variable(v.copy(), name=k) for k, v in w0.items()}
    k_opt = keras_optimizer(keras, name, settings)
    ours = {k: v.copy() for k, v in w0.items()}
    opt = OPTIMIZERS[name](**settings)
    if exclude:
        k_opt.exclude_from_weight_decay(var_names=exclude)
        opt.exclude_from_weight_decay(var_names=exclude)
    for g in grads:
        k_opt.apply_gradients([(keras.ops.convert_to_tensor(g[k]), k_vars[k]) for k in w0])
        opt.apply([(f"dense/{k}", ours[k], g[k].copy()) for k in w0])
    return {k: v.numpy() for k, v in k_vars.items()}, ours, w0


@pytest.mark.parametrize("options, ulps", OPTIONS,
                         ids=[",".join(o) or "plain" for o, _ in OPTIONS])
@pytest.mark.parametrize("name, settings", CASES,
                         ids=[f"{n}-{','.join(f'{k}={v}' for k, v in s.items())}"
                              for n, s in CASES])
def test_matches_keras(keras, backend_in_use, name, settings, options, ulps):
    theirs, ours, w0 = trajectories(keras, name, {**settings, **options})
    for k in ours:
        assert not np.array_equal(ours[k], w0[k])
        assert max_ulps(ours[k], theirs[k]) <= ulps, (k, max_ulps(ours[k], theirs[k]))


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_weight_decay_exclusion_matches_keras(keras, backend_in_use, name):
    """var_names=["bias"]: Keras searches the variable's name ("bias"), nn the parameter's
    ("dense/bias"); both exclude the bias and decay the kernel."""
    theirs, ours, _ = trajectories(keras, name, dict(learning_rate=0.01, weight_decay=0.1),
                                   exclude=["bias"])
    for k in ours:
        assert max_ulps(ours[k], theirs[k]) == 0, k
