"""The backprop walkthrough: examples/backprop.py on a small slice of the real data, its
gradient check on synthetic batches, and the code references of docs/backprop.md."""

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nn.preprocessing import vectorize_sequences

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "backprop.py"
DOC = ROOT / "docs" / "backprop.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PARAMETERS = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
              "dense_2/kernel", "dense_2/bias"]

# `nn/layers.py::Dense.backward_z`, always written as a link: [`...`](../nn/layers.py)
REF = re.compile(r"`(nn/[\w/]+\.py)::([\w.]+)`")
LINKED_REF = re.compile(r"\[`(nn/[\w/]+\.py)::([\w.]+)`\]\(([^)\s]+)\)")


def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=600)


def load_script():
    spec = importlib.util.spec_from_file_location("backprop_walkthrough", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def valid_png(path):
    import matplotlib.image

    return path.read_bytes()[:8] == PNG_MAGIC and matplotlib.image.imread(path).ndim == 3


# ------------------------------------------------------------------ the script, real data

@pytest.fixture(scope="module", params=["numba", "numpy"])
def small_run(request, imdb_dir, tmp_path_factory):
    """One run on the first 384 training reviews: a batch of 128, one epoch of 3 steps, on
    each backend."""
    out = tmp_path_factory.mktemp("backprop")
    result = run("--data", str(imdb_dir), "--out", str(out), "--limit", "384",
                 "--batch-size", "128", "--epochs", "1", "--check-entries", "32",
                 "--backend", request.param)
    assert f"backend: {request.param}" in result.stdout, result.stderr[-2000:]
    return result, out


def test_gradient_table_is_below_1e6_in_float64(small_run):
    result, out = small_run
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "gradcheck.json").read_text())
    assert report["dtype"] == "float64" and report["reviews"] == 128
    assert [row["parameter"] for row in report["rows"]] == PARAMETERS
    assert all(row["max_rel_error"] < 1e-6 for row in report["rows"]), report["rows"]
    assert report["max_rel_error"] < 1e-6 and report["unverified"] == []
    assert report["kinks"] == sum(row["kinks"] for row in report["rows"])
    for row in report["rows"]:
        assert row["kinks"] < row["checked"]        # most entries are clear of every kink
        assert row["nonzero"] <= row["checked"]
    assert report["rows"][0]["nonzero"] == 32       # W1: only rows of words in the batch
    # The output layer comes after every relu: nudging it cannot flip one.
    assert report["rows"][4]["kinks"] == report["rows"][5]["kinks"] == 0
    # The sparse and dense first-layer paths give the same float64 gradients.
    assert report["sparse_vs_dense_max_abs_diff"] < 1e-12
    # The table is printed as well as saved.
    for row in report["rows"]:
        assert f"{row['max_rel_error']:>14.2e}" in result.stdout
    assert "backprop agrees with central differences" in result.stdout
    assert "(ok)" in result.stdout


def test_walkthrough_prints_every_section(small_run):
    result, _ = small_run
    out = result.stdout
    for n in range(1, 10):
        assert f"== {n}. " in out
    same = re.search(r"model._backward gives the same gradients: max \|difference\| = (\S+)", out)
    assert same and float(same.group(1)) < 1e-6, out[-3000:]
    assert "equal to the dense product and to nn/kernels/numpy.py::spmm: True" in out
    assert "equal to the dense product and to nn/kernels/numpy.py::spmm_t: True" in out
    assert "total 160,305 parameters" in out
    for name in ("z1 = x @ W1 + b1", "dL/dz3 = (p - y) / n", "dL/dW1 = x^T @ dL/dz1"):
        assert name in out


def test_gradient_norm_plots_are_saved(small_run):
    result, out = small_run
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("gradient_norms.png", "gradient_norms_by_layer.png"):
        assert valid_png(out / name)
    norms = json.loads((out / "gradient_norms.json").read_text())
    assert sorted(norms) == ["relu", "sigmoid", "tanh"]
    for act in norms.values():
        steps = np.array(act["norms"])
        assert steps.shape == (3, 3)  # 384 reviews / 128 per step, one norm per layer
        assert np.all(np.isfinite(steps)) and np.all(steps > 0)


def test_doc_excerpts_that_do_not_depend_on_the_data_match_the_script(small_run):
    """Sections 4, 5 and 7 of the doc quote lines that any run prints identically."""
    result, _ = small_run
    printed = set(result.stdout.splitlines())
    doc = DOC.read_text()
    quoted = [line for block in re.findall(r"```text\n(.*?)```", doc, re.S)
              for line in block.splitlines()]
    stable = [line for line in quoted if line.startswith((
        "p = sigmoid(z)", "chain  ", "fused  ", "mse    ", "3 reviews over 6 words",
        "indptr = ", "    [[", "     [", "W = 6 x 2", "equal to the dense product",
        "delta = dL/dZ", "work: 8 nonzeros", "learning_rate = ", "first step, |g|"))]
    assert len(stable) >= 20
    missing = [line for line in stable if line not in printed]
    assert not missing, missing


def test_missing_data_is_a_clear_message_not_a_traceback(tmp_path, offline_env):
    result = run("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 env=offline_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nowhere" in result.stderr
    assert not (tmp_path / "o").exists()


def test_help_lists_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--data", "--out", "--seed", "--batch-size", "--epochs", "--limit",
                   "--depth", "--check-entries", "--broken-relu", "--quiet"):
        assert option in result.stdout


# ---------------------------------------------------- the gradient check, synthetic batch

def synthetic_batch(n=48, seed=0):
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(1, 10000, size=rng.integers(20, 80)).tolist() for _ in range(n)]
    x = vectorize_sequences(sequences, dimension=10000)
    y = (rng.random((n, 1)) > 0.5).astype(np.float32)
    return x, y


def test_gradient_check_passes_and_catches_a_broken_relu():
    """The walkthrough's check on its own: correct backprop passes, a ReLU that forgets its
    mask fails in both hidden layers and nowhere else. (A check that cannot fail is no check.)"""
    bp = load_script()
    x, y = synthetic_batch()
    weights = bp.build_model(3).get_weights()
    quiet = lambda *a, **k: None  # noqa: E731

    good = bp.gradient_check(3, weights, x, y, bp.parse_args(["--check-entries", "16"]), quiet)
    assert good["max_rel_error"] < 1e-6

    args = bp.parse_args(["--check-entries", "16", "--broken-relu"])
    bad = bp.gradient_check(3, weights, x, y, args, quiet)
    errors = {row["parameter"]: row["max_rel_error"] for row in bad["rows"]}
    assert min(errors[p] for p in PARAMETERS[:4]) > 1e-2, errors
    assert max(errors[p] for p in PARAMETERS[4:]) < 1e-6, errors


# --------------------------------------------------------------- the document's references

def doc_references():
    return REF.findall(DOC.read_text())


def resolve(path, name):
    module = importlib.import_module(path[:-len(".py")].replace("/", "."))
    obj = module
    for part in name.split("."):
        assert hasattr(obj, part), f"{path}::{name}: {obj!r} has no attribute {part!r}"
        obj = getattr(obj, part)
    return obj


def test_every_code_reference_in_the_doc_names_something_that_exists():
    refs = doc_references()
    assert len(refs) >= 30
    for path, name in refs:
        assert (ROOT / path).is_file(), f"{path} does not exist"
        assert callable(resolve(path, name)), f"{path}::{name} is not a class or function"


def test_every_code_reference_is_a_link_to_its_file():
    text = DOC.read_text()
    linked = LINKED_REF.findall(text)
    assert len(linked) == len(REF.findall(text)), "a code reference is not a Markdown link"
    for path, name, target in linked:
        assert (DOC.parent / target).resolve() == (ROOT / path).resolve(), \
            f"[{path}::{name}] links to {target}"


def test_doc_references_the_pieces_the_walkthrough_derives():
    refs = {f"{path}::{name}" for path, name in doc_references()}
    required = {
        "nn/layers.py::Dense.forward", "nn/layers.py::Dense.backward",
        "nn/layers.py::Dense.backward_from_dz",
        "nn/ops.py::affine", "nn/ops.py::weight_grad",
        "nn/activations.py::ReLU.forward", "nn/activations.py::ReLU.backward",
        "nn/activations.py::Sigmoid.forward", "nn/activations.py::Sigmoid.backward",
        "nn/activations.py::Tanh.forward", "nn/activations.py::Tanh.backward",
        "nn/losses.py::BinaryCrossentropy.__call__", "nn/losses.py::BinaryCrossentropy.gradient",
        "nn/losses.py::BinaryCrossentropy.fused_gradient",
        "nn/losses.py::MeanSquaredError.gradient",
        "nn/models.py::Sequential._forward", "nn/models.py::Sequential._backward",
        "nn/optimizers.py::RMSprop.update_step", "nn/kernels/numba/rmsprop.py::rmsprop_update",
        "nn/kernels/numpy.py::spmm", "nn/kernels/numpy.py::spmm_t",
        "nn/kernels/numba/forward.py::spmm", "nn/kernels/numba/backward.py::spmm_t",
        "nn/kernels/numba/fused.py::DenseLayer",
        "nn/gradcheck.py::check_gradients",
    }
    assert required <= refs, sorted(required - refs)
