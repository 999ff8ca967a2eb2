"""examples/_figures.py: an example's figures drawn by a process of its own, the same files as
drawn in the example's process, and its failures reported, never lost."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
HISTORY = {"loss": [0.5, 0.3, 0.2], "val_loss": [0.4, 0.35, 0.38],
           "binary_accuracy": [0.8, 0.9, 0.95], "val_binary_accuracy": [0.85, 0.88, 0.87]}


@pytest.fixture(scope="module")
def figures():
    """examples/_figures.py and examples/imdb.py as modules."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _figures
        import imdb
    finally:
        sys.path.remove(str(EXAMPLES))
    return _figures, imdb


def test_the_process_draws_the_same_files_as_this_process(figures, tmp_path):
    _figures, imdb = figures
    pytest.importorskip("matplotlib")
    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    here, best = imdb.plot_history(HISTORY, tmp_path / "here")
    with _figures.FigureProcess("imdb", "plot_history") as process:
        process.draw(HISTORY, str(tmp_path / "there"))
        there, best_there = process.result()
    assert best == best_there == 2
    assert [Path(p).name for p in there] == [Path(p).name for p in here] == \
        ["loss.png", "accuracy.png"]
    for a, b in zip(here, there):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_a_failure_in_the_process_is_an_error_naming_its_cause(figures, tmp_path):
    _figures, _ = figures
    with _figures.FigureProcess("imdb", "plot_history") as process:
        process.draw({"loss": [0.5]}, str(tmp_path))  # no val_loss
        with pytest.raises(_figures.FigureError, match="imdb.plot_history failed.*val_loss"):
            process.result()


def test_closed_without_drawing_the_process_ends_and_writes_nothing(figures, tmp_path):
    _figures, _ = figures
    process = _figures.FigureProcess("imdb", "plot_history")
    process.close()
    assert process._process.returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_imdb_without_matplotlib_says_so_and_keeps_the_other_results(imdb_dir, tmp_path):
    """matplotlib made unimportable (a stand-in package first on the path that raises): the
    run still trains, tests and saves, and says on stderr why the figures are missing."""
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib is broken here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "fake"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(EXAMPLES / "imdb.py"), "--data", str(imdb_dir),
                             "--out", str(out), "--epochs", "2", "--final-epochs", "1",
                             "--quiet"], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the figures were not drawn" in result.stderr
    assert "matplotlib is broken here" in result.stderr
    assert "Traceback" not in result.stderr.split("the figures were not drawn")[0]
    assert "test [loss, accuracy] after 1 epochs" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert len(results["history"]["loss"]) == 2 and results["test_accuracy"] > 0.5
    assert (out / "model.npz").exists()
    assert not (out / "loss.png").exists()
