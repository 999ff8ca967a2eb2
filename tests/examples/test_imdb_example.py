"""examples/imdb.py end to end on the real data, in a temporary output folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "imdb.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, env=env or os.environ.copy(), timeout=900)


def valid_png(path):
    import matplotlib.image

    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and matplotlib.image.imread(path).ndim == 3


def test_notebook_runs_end_to_end(imdb_dir, tmp_path):
    result = run("--data", str(imdb_dir), "--out", str(tmp_path), "--seed", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "train_data[0][:10] = [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65]" in out
    assert "largest word index = 9999" in out
    assert "Total params: 160,305" in out
    assert "Train on 15000 samples, validate on 10000 samples" in out and "Epoch 20/20" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["test_accuracy"] >= 0.87
    assert f"[{results['test_loss']:.4f}, {results['test_accuracy']:.4f}]" in out
    assert len(results["history"]["val_loss"]) == 20
    for name in ("loss.png", "accuracy.png"):
        assert valid_png(tmp_path / name)
    assert results["memory_mb"]["sparse"] < 30


def test_same_seed_prints_the_same_numbers(imdb_dir, tmp_path):
    args = ["--data", str(imdb_dir), "--epochs", "2", "--final-epochs", "1", "--quiet"]
    first = run(*args, "--out", str(tmp_path / "a"))
    second = run(*args, "--out", str(tmp_path / "b"))
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:]
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["history"] == b["history"] and a["test_loss"] == b["test_loss"]
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]


def test_missing_data_is_a_clear_message_not_a_traceback(tmp_path, offline_env):
    result = run("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 env=offline_env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nowhere" in result.stderr


def test_help_explains_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--data", "--out", "--seed", "--epochs", "--final-epochs", "--batch-size",
                   "--dense", "--quiet", "--experiments", "--early-stopping"):
        assert option in result.stdout


@pytest.fixture(scope="module")
def example():
    """examples/imdb.py as a module."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import imdb as module
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def test_four_epoch_model_reaches_87_percent_for_five_seeds(imdb_dir, example):
    """The notebook's final run (4 epochs on all 25,000 reviews), seeds 1-5."""
    import numpy as np

    from nn.datasets import imdb
    from nn.preprocessing import vectorize_sequences

    (x, y), (xt, yt) = imdb.load_data(path=imdb_dir, num_words=10000)
    x, xt = vectorize_sequences(x), vectorize_sequences(xt)
    y, yt = y.astype("float32"), yt.astype("float32")
    accuracies = []
    for seed in range(1, 6):
        model = example.build_model(seed)
        model.fit(x, y, epochs=4, batch_size=512, verbose=0)
        accuracies.append(model.evaluate(xt, yt, batch_size=2048, verbose=0)[1])
    assert min(accuracies) >= 0.87, accuracies
    assert np.mean(accuracies) >= 0.88, accuracies


def test_hashed_trigrams_with_the_default_settings_pass_92_percent(imdb_dir, tmp_path):
    """Beyond the notebook: 1-3-grams with the n-gram defaults (2**23 columns, min_df 3,
    batch 128, the epoch of lowest validation loss of 4): 92.27% with seed 1 (92.2% over
    seeds 1-3, docs/ngrams.md)."""
    result = run("--data", str(imdb_dir), "--out", str(tmp_path), "--ngrams", "3",
                 "--seed", "1", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["test_accuracy"] >= 0.92
    assert results["peak_memory_mb"] < 1024
    assert 1 <= results["best_epoch"] <= 4
    assert results["columns"] < 2**23  # min_df 3 dropped the rarest n-grams


@pytest.mark.parametrize("argv, expected", [
    ([], {"epochs": 20, "batch_size": 512}),
    (["--ngrams", "3"], {"epochs": 4, "batch_size": 128, "features": 2**23, "min_df": 3}),
    (["--ngrams", "2", "--order", "hash"], {"min_df": 1, "features": 2**23}),
    (["--ngrams", "2", "--features", "2**20", "--min-df", "1", "--batch-size", "512",
      "--epochs", "10"], {"epochs": 10, "batch_size": 512, "features": 2**20, "min_df": 1}),
])
def test_the_defaults_follow_the_path_and_explicit_options_win(example, argv, expected):
    args = example.parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize("argv, message", [
    (["--ngrams", "2", "--order", "hash", "--min-df", "3"], "above 1 needs --order frequency"),
    (["--ngrams", "0"], "--ngrams must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--features", "1000"], "power of two"),
])
def test_bad_ngram_options_are_clear_errors(example, capsys, argv, message):
    with pytest.raises(SystemExit):
        example.parse_args(argv)
    assert message in capsys.readouterr().err
