"""`nn.backend`: choosing the backend, running without numba, and the two backends' numbers on
the notebook model.

The pinned digest is of the notebook model's weights after 2 epochs on the numba backend,
taken at commit fd258cd, before the backends were split: the split was to change the reading
order of the code, not one bit of what the compiled path computes.
"""

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn
from nn import backend, layers, models, optimizers
from nn.datasets import imdb
from nn.preprocessing import vectorize_sequences

ROOT = Path(__file__).resolve().parent.parent
HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")

# Lines a subprocess runs first: numba (and llvmlite) cannot be imported after them.
BLOCK_NUMBA = "import sys; sys.modules['numba'] = None; sys.modules['llvmlite'] = None\n"


def run_python(code, nn_backend=None, timeout=600):
    """Run ``code`` in a fresh interpreter with NN_BACKEND set to ``nn_backend`` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "NN_BACKEND"}
    if nn_backend is not None:
        env["NN_BACKEND"] = nn_backend
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


# --- choosing ------------------------------------------------------------------------------

@pytest.fixture
def restore_backend():
    before = backend._process_choice, backend._process_module
    yield
    backend._process_choice, backend._process_module = before


def test_an_unknown_name_is_an_error_listing_the_choices(restore_backend):
    for call in (lambda: nn.set_backend("torch"), lambda: nn.use_backend("jax").__enter__()):
        with pytest.raises(ValueError, match=r"unknown backend 'torch'|unknown backend 'jax'") \
                as e:
            call()
        assert "numba" in str(e.value) and "numpy" in str(e.value)
    assert backend.name() in backend.NAMES  # nothing changed


def test_an_unknown_NN_BACKEND_stops_import_with_the_choices():
    result = run_python("import nn", "cuda")
    assert result.returncode != 0
    assert "unknown NN_BACKEND 'cuda'" in result.stderr and "'numpy'" in result.stderr


def test_use_backend_switches_inside_the_block_and_restores_after(restore_backend):
    nn.set_backend("numpy")
    assert backend.name() == "numpy" and backend.get() is importlib.import_module(
        "nn.kernels.numpy")
    if HAS_NUMBA:
        with nn.use_backend("numba"):
            assert backend.name() == "numba"
            assert backend.get() is importlib.import_module("nn.kernels.numba")
            with nn.use_backend("NumPy"):  # names are case-insensitive
                assert backend.name() == "numpy"
            assert backend.name() == "numba"
    with pytest.raises(RuntimeError):
        with nn.use_backend("numpy"):
            raise RuntimeError("inside")
    assert backend.name() == "numpy"


def test_both_backends_define_the_same_functions():
    numpy_backend = importlib.import_module("nn.kernels.numpy")
    names = {n for n in dir(numpy_backend) if not n.startswith("_") and n != "np"}
    assert numpy_backend.fused is None
    if HAS_NUMBA:
        numba_backend = importlib.import_module("nn.kernels.numba")
        assert names <= set(dir(numba_backend)), names - set(dir(numba_backend))
        assert numba_backend.fused is not None


# --- without numba -------------------------------------------------------------------------

def test_the_numpy_backend_never_imports_numba():
    code = BLOCK_NUMBA + """
import os
import tempfile

import numpy as np

import nn
from nn import layers, models, preprocessing
from nn.sparse import CSRMatrix
assert nn.backend.name() == "numpy"
rng = np.random.default_rng(0)
seqs = [list(rng.integers(0, 50, size=n)) for n in rng.integers(1, 30, size=200)]
x = preprocessing.vectorize_sequences(seqs, dimension=50)
y = rng.integers(0, 2, size=200).astype("float32")
grams = preprocessing.hashed_ngrams(seqs, ngram_range=(1, 2), n_features=2**10)
grams = preprocessing.renumber_columns(grams, preprocessing.frequency_order(grams))
unsorted = CSRMatrix([0, 2], [3, 1], (1, 5), data=[1.0, 2.0])
for inputs in (x, x.toarray(), grams):
    m = models.Sequential(seed=0)
    m.add(layers.Dense(16, activation="relu", input_shape=(inputs.shape[1],)))
    m.add(layers.Dense(1, activation="sigmoid"))
    m.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    m.fit(inputs, y, epochs=2, batch_size=32, verbose=0, validation_split=0.2)
    path = os.path.join(tempfile.mkdtemp(), "m.npz")
    m.save(path)
    models.load_model(path).evaluate(inputs, y, verbose=0)
assert sys.modules["numba"] is None and sys.modules["llvmlite"] is None
print("ok")
"""
    result = run_python(code, "numpy")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_the_numba_backend_without_numba_says_how_to_go_on():
    code = BLOCK_NUMBA + """
import numpy as np
import nn
from nn import layers, models
m = models.Sequential(seed=0)
m.add(layers.Dense(1, activation="sigmoid", input_shape=(3,)))
try:
    m.predict(np.ones((2, 3), np.float32))
except ImportError as e:
    print(e)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pip install numba" in result.stdout and "NN_BACKEND=numpy" in result.stdout


def test_the_whole_example_runs_without_numba(imdb_dir, tmp_path):
    code = BLOCK_NUMBA + f"""
import runpy
sys.path.insert(0, {str(ROOT / "examples")!r})  # as `python examples/imdb.py` has it
sys.argv = ["imdb.py", "--data", {str(imdb_dir)!r}, "--out", {str(tmp_path)!r}, "--quiet"]
try:
    runpy.run_path({str(ROOT / "examples" / "imdb.py")!r}, run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
assert sys.modules["numba"] is None
"""
    result = run_python(code, "numpy")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend: numpy" in result.stdout
    line = result.stdout.split("test [loss, accuracy] after 4 epochs: [")[1].split("]")[0]
    accuracy = float(line.split(",")[1])
    assert accuracy >= 0.87, result.stdout


# --- the same numbers ----------------------------------------------------------------------

# sha256 of the six weight arrays (kernel, bias per layer, float32, C order) and the history
# (float.hex) after 2 epochs of `notebook_run`, on the numba backend at commit fd258cd.
PINNED_SHA256 = "b70a1c08b13ca66af67142b6ce300635ac639f25c5d732ffed8dce25fb6f91fe"
PINNED_HISTORY = {
    "loss": ["0x1.1c16226e19f10p-1", "0x1.6c0efe1a6c1e1p-2"],
    "accuracy": ["0x1.8bc6a7ef9db23p-1", "0x1.c710cb295e9e2p-1"],
    "val_loss": ["0x1.b5b8c6bf3020cp-2", "0x1.528d5ca4a0ebap-2"],
    "val_accuracy": ["0x1.ba5e353f7ced9p-1", "0x1.c3c9eecbfb15bp-1"],
}
# Since the loss of a sigmoid output is read from its logits, as Keras on TensorFlow reads it
# (nn.models.Sequential._logits_loss), the reported losses are these: the weights and the
# accuracies are the fd258cd bits still, and the losses differ from fd258cd's by < 1e-8.
PINNED_LOSSES = {
    "loss": ["0x1.1c16226ff235dp-1", "0x1.6c0efe1ab7a55p-2"],
    "val_loss": ["0x1.b5b8c6b808e8ap-2", "0x1.528d5c983032ep-2"],
}
# The NumPy backend sums in other orders (and float64 in its scatter-adds): measured at most
# 6e-8 apart in the weights and 1e-8 in the history after 2 epochs; allowed 20x that.
WEIGHT_TOLERANCE = 1e-6
HISTORY_TOLERANCE = 2e-7


@pytest.fixture(scope="module")
def notebook_data(imdb_dir):
    (train_data, train_labels), _ = imdb.load_data(path=imdb_dir, num_words=10000)
    return vectorize_sequences(train_data), train_labels.astype("float32")


def notebook_run(x, y, epochs=2, seed=1):
    """The notebook's model, trained as the notebook does, with a 10,000-review validation."""
    model = models.Sequential(seed=seed)
    model.add(layers.Dense(16, activation="relu", input_shape=(10000,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x[10000:], y[10000:], epochs=epochs, batch_size=512,
                        validation_data=(x[:10000], y[:10000]), verbose=0)
    return model.get_weights(), history.history


def digest(weights):
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def numba_run(notebook_data):
    if not HAS_NUMBA:
        pytest.skip("numba is not installed")
    with nn.use_backend("numba"):
        return notebook_run(*notebook_data)


def test_the_numba_backend_trains_the_notebook_model_to_the_pinned_bits(numba_run):
    weights, history = numba_run
    assert digest(weights) == PINNED_SHA256
    hexed = {k: [float(v).hex() for v in vs] for k, vs in history.items()}
    assert hexed == {**PINNED_HISTORY, **PINNED_LOSSES}
    for key, values in PINNED_LOSSES.items():
        np.testing.assert_allclose([float.fromhex(v) for v in values],
                                   [float.fromhex(v) for v in PINNED_HISTORY[key]], atol=1e-8)


def test_the_numpy_backend_trains_it_to_the_same_numbers_within_rounding(numba_run,
                                                                           notebook_data):
    with nn.use_backend("numpy"):
        weights, history = notebook_run(*notebook_data)
    for w, w_numba in zip(weights, numba_run[0]):
        assert w.dtype == w_numba.dtype and w.shape == w_numba.shape
        np.testing.assert_allclose(w, w_numba, rtol=0, atol=WEIGHT_TOLERANCE)
    assert weights[0].tobytes() != numba_run[0][0].tobytes()  # really another computation
    for key, values in numba_run[1].items():
        np.testing.assert_allclose(history[key], values, rtol=0, atol=HISTORY_TOLERANCE)
