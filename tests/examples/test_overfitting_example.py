"""examples/overfitting.py on the real data with small settings, in a temporary output folder:
its figures, table, results.json and findings, the third-edition protocol, and its options."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "overfitting.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_MODELS = ["original", "smaller", "bigger", "l2", "dropout", "l1", "l1_l2"]
EPOCHS = 3


def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, env=env or os.environ.copy(), timeout=900)


def example():
    """examples/overfitting.py as a module (it imports examples/_common.py beside it)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module("overfitting")
    finally:
        sys.path.pop(0)


def valid_png(path):
    import matplotlib.image

    return path.read_bytes()[:8] == PNG_MAGIC and matplotlib.image.imread(path).ndim == 3


@pytest.fixture(scope="module")
def first_edition(imdb_dir, tmp_path_factory):
    """``(stdout, results, out)``: every model, 3 epochs, 2 seeds (1 for the 512-512 one)."""
    out = tmp_path_factory.mktemp("overfitting")
    result = run("--data", str(imdb_dir), "--out", str(out), "--epochs", str(EPOCHS),
                 "--seeds", "2", "--l1")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads((out / "results.json").read_text()), out


def test_every_model_trains_on_the_books_setup(first_edition):
    stdout, results, _ = first_edition
    assert stdout.splitlines()[0].startswith("backend: ")
    assert (results["protocol"], results["epochs"], results["batch_size"]) == \
        ("first-edition", EPOCHS, 512)
    assert (results["train_samples"], results["validation_samples"]) == (25000, 25000)
    models = results["models"]
    assert list(models) == ALL_MODELS
    for name, model in models.items():
        assert [run["seed"] for run in model["runs"]] == ([1] if name == "bigger" else [1, 2])
        for run in model["runs"]:
            assert all(len(run["history"][k]) == EPOCHS
                       for k in ("loss", "val_loss", "acc", "val_acc"))
            assert all(0.5 < a <= 1 for a in run["history"]["val_acc"])
    assert models["bigger"]["hidden"] == [512, 512] and models["smaller"]["hidden"] == [4, 4]
    assert models["l2"]["regularizer"] == "l2(0.001)"
    assert models["l1_l2"]["regularizer"] == "l1_l2(l1=0.001, l2=0.001)"
    assert models["dropout"]["dropout"] == 0.5
    # Same seed, same weights and batches: the seeds of a model differ, a model does not.
    original = models["original"]["runs"]
    assert original[0]["history"]["loss"] != original[1]["history"]["loss"]
    # The penalty is part of the reported loss (as in Keras), so the penalized models report
    # a higher training loss than the same network without it.
    for name in ("l2", "l1", "l1_l2"):
        assert models[name]["runs"][0]["history"]["loss"][-1] > original[0]["history"]["loss"][-1]


def test_the_table_holds_each_models_numbers(first_edition):
    stdout, results, out = first_edition
    for name, model in results["models"].items():
        s, runs = model["summary"], model["runs"]
        val_loss = np.array([r["history"]["val_loss"] for r in runs])
        assert s["lowest_val_loss"] == pytest.approx(val_loss.min(axis=1).mean())
        assert s["lowest_val_loss_epoch"] == pytest.approx(
            (val_loss.argmin(axis=1) + 1).mean())
        assert s["best_val_acc"] == pytest.approx(
            np.mean([max(r["history"]["val_acc"]) for r in runs]))
        assert s["final_val_acc"] == pytest.approx(
            np.mean([r["history"]["val_acc"][-1] for r in runs]))
        assert s["final_train_loss"] == pytest.approx(
            np.mean([r["history"]["loss"][-1] for r in runs]))
        assert s["seconds_per_epoch"] > 0
        [row] = [line for line in stdout.splitlines() if line.startswith(model["label"] + " ")]
        assert row[len(model["label"]):].split() == [
            str(len(runs)), f"{s['lowest_val_loss']:.4f}", f"{s['lowest_val_loss_epoch']:.1f}",
            f"{s['best_val_acc']:.4f}", f"{s['final_val_acc']:.4f}",
            f"{s['final_train_loss']:.4f}", f"{s['seconds_per_epoch']:.3f}"]
        assert f"| {model['label']} | {len(runs)} | {s['lowest_val_loss']:.4f} |" in \
            (out / "table.md").read_text()


def test_the_figures_are_written(first_edition):
    _, results, out = first_edition
    names = [f"{name}.png" for name in ALL_MODELS[1:]] + ["bigger_loss.png"]
    assert sorted(Path(p).name for p in results["figures"]) == sorted(names)
    for name in names:
        assert valid_png(out / name), name


def test_the_findings_follow_from_the_numbers(first_edition):
    stdout, results, _ = first_edition
    summaries = {n: m["summary"] for n, m in results["models"].items()}
    labels = {n: m["label"] for n, m in results["models"].items()}
    found = results["findings"]
    soonest = min(summaries, key=lambda n: (summaries[n]["lowest_val_loss_epoch"],
                                            -summaries[n]["rise_per_epoch"]))
    holds = min(summaries, key=lambda n: (summaries[n]["val_loss_rise"],
                                          -summaries[n]["lowest_val_loss_epoch"]))
    assert (found["overfits_soonest"], found["holds_best"]) == (soonest, holds)
    # On the real data, the 512-512 model is the first to pass its lowest validation loss:
    # after 2 epochs, while every 16-unit model still improves in its third.
    assert soonest == "bigger"
    assert summaries["bigger"]["lowest_val_loss_epoch"] == 2
    assert summaries["original"]["lowest_val_loss_epoch"] == 3
    assert f"overfits soonest: {labels['bigger']}: lowest validation loss at epoch 2.0" in stdout
    assert f"holds its validation loss best: {labels[holds]}: epoch {EPOCHS} is " \
           f"{summaries[holds]['val_loss_rise']:.4f} above its lowest" in stdout
    for line in found["lines"]:
        assert f"  {line}\n" in stdout


def test_findings_change_with_the_numbers():
    """The verdicts are computed: swap two models' numbers and the verdicts swap too."""
    module = example()

    def summary(epoch, rise, lowest=0.3, acc=0.88, after=10):
        return {"lowest_val_loss_epoch": epoch, "val_loss_rise": rise,
                "rise_per_epoch": rise / after, "lowest_val_loss": lowest,
                "best_val_acc": acc}

    labels = {"original": "original", "a": "model a", "b": "model b"}
    numbers = {"original": summary(4, 0.3), "a": summary(2, 0.5, lowest=0.25),
               "b": summary(9, 0.05, acc=0.9)}
    found = module.findings(numbers, labels, epochs=20)
    assert (found["overfits_soonest"], found["holds_best"]) == ("a", "b")
    assert (found["lowest_val_loss"], found["best_val_acc"]) == ("a", "b")
    assert found["lines"][0].startswith("overfits soonest: model a: lowest validation loss "
                                        "at epoch 2.0, then up 0.0500 per epoch")
    assert "model b against the original: starts overfitting later" in found["lines"][-1]
    swapped = module.findings({"original": numbers["original"], "a": numbers["b"],
                               "b": numbers["a"]}, labels, epochs=20)
    assert (swapped["overfits_soonest"], swapped["holds_best"]) == ("b", "a")
    # The same first epoch: the faster rise after it overfits sooner.
    tie = module.findings({"original": summary(3, 0.1), "a": summary(3, 0.4)}, labels, 20)
    assert tie["overfits_soonest"] == "a"
    # Every model still at its lowest in the last epoch: no model is named as overfitting.
    none = module.findings({"original": summary(3, 0.0), "a": summary(3, 0.0)}, labels, 3)
    assert none["overfits_soonest"] is None and none["holds_best"] is None
    assert none["lines"][0].startswith("no model overfits within 3 epochs")
    assert not any(line.startswith(("overfits soonest", "holds its")) for line in none["lines"])
    assert none["lines"][-1].startswith("model a against the original: neither has passed "
                                        "its lowest validation loss (lowest validation loss at "
                                        "epoch 3.0 vs 3.0) and rises as much after its lowest")


def test_third_edition_holds_out_40_percent_of_the_training_reviews(imdb_dir, tmp_path):
    result = run("--data", str(imdb_dir), "--out", str(tmp_path), "--protocol",
                 "third-edition", "--models", "l2", "--epochs", "2", "--seeds", "1",
                 "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["train_samples"], results["validation_samples"]) == (15000, 10000)
    assert list(results["models"]) == ["original", "l2"]
    assert results["models"]["l2"]["regularizer"] == "l2(0.002)"
    assert "l2(0.002)" in result.stdout
    # The original's numbers are those of the book's fit with validation_split=0.4.
    from nn.datasets import imdb
    from nn.preprocessing import vectorize_sequences

    (x, y), _ = imdb.load_data(path=imdb_dir, num_words=10000)
    model = example().build_model(1, metrics=["accuracy"])
    history = model.fit(vectorize_sequences(x), y.astype("float32"), epochs=2, batch_size=512,
                        validation_split=0.4, verbose=0).history
    run_history = results["models"]["original"]["runs"][0]["history"]
    assert run_history["val_loss"] == pytest.approx(history["val_loss"], rel=1e-6)
    assert run_history["val_acc"] == pytest.approx(history["val_accuracy"], rel=1e-6)


def test_help_lists_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--data", "--out", "--backend", "--batch-size", "--quiet", "--protocol",
                   "--models", "--l1", "--seeds", "--bigger-seeds", "--seed", "--epochs",
                   "third-edition", "l1_l2"):
        assert option in result.stdout, option


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "--seeds must be at least 1; got 0"),
    (["--bigger-seeds", "-1"], "--bigger-seeds must be at least 1; got -1"),
    (["--epochs", "0"], "--epochs must be at least 1; got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1; got 0"),
    (["--seed", "-3"], "--seed must be 0 or more; got -3"),
    (["--models", "huge"], "argument --models: invalid choice: 'huge'"),
    (["--protocol", "second-edition"], "argument --protocol: invalid choice"),
    (["--seeds", "two"], "argument --seeds: invalid int value: 'two'"),
])
def test_bad_arguments_are_refused_with_a_clear_message(args, message, tmp_path):
    result = run(*args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_missing_data_is_a_clear_message_not_a_traceback(tmp_path, offline_env):
    result = run("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 env=offline_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "could not load the IMDB data" in result.stderr and "nowhere" in result.stderr
