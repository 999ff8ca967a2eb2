"""The notebooks under examples/notebooks, executed top to bottom with nbclient on the real data.

Each runs in a kernel of the interpreter running pytest (a kernel spec written to a temporary
folder, never installed globally), with ``NN_DATA_DIR`` pointing at the data; the overfitting
notebook runs a few epochs per model (``NN_NOTEBOOK_EPOCHS``). A cell appended by the test
prints the notebook's results as JSON, and the test checks their values. The committed files
must carry no outputs.
"""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "examples" / "notebooks"
CLASSIFYING = NOTEBOOKS / "classifying_movie_reviews.ipynb"
OVERFITTING = NOTEBOOKS / "overfitting_and_underfitting.ipynb"
OVERFITTING_EPOCHS = 3
MISSING = ("the notebook tests need nbclient, nbformat and ipykernel "
           "(pip install -e '.[test]')")


@pytest.fixture(scope="module")
def nb_tools():
    """``(nbformat, nbclient)``; skipped without them, except under CI, where it fails."""
    try:
        import ipykernel  # noqa: F401  (the kernel below runs ipykernel_launcher)
        import nbclient
        import nbformat
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING}: {exc}")
        pytest.skip(f"{MISSING}: {exc}")
    return nbformat, nbclient


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """JUPYTER_PATH naming a private ``python3`` kernel spec that starts this interpreter."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (pytest)", "language": "python"}))
    return {"JUPYTER_PATH": str(folder)}


def execute(path, nb_tools, kernel_env, imdb_dir, tmp_path, monkeypatch, epochs=None,
            report=""):
    """Run the notebook at ``path`` with ``report`` appended as a last cell; return the
    executed notebook and the JSON that cell printed."""
    nbformat, nbclient = nb_tools
    for name, value in {**kernel_env, "NN_DATA_DIR": str(imdb_dir)}.items():
        monkeypatch.setenv(name, value)
    if epochs is None:
        monkeypatch.delenv("NN_NOTEBOOK_EPOCHS", raising=False)
    else:
        monkeypatch.setenv("NN_NOTEBOOK_EPOCHS", str(epochs))
    nb = nbformat.read(path, as_version=4)
    report = f'{{"python": sys.executable, **{report}}}'
    nb.cells.append(nbformat.v4.new_code_cell(f"import json, sys\nprint(json.dumps({report}))"))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = nb.cells[-1].outputs
    text = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    result = json.loads(text)
    assert result.pop("python") == sys.executable  # the kernel ran pytest's interpreter
    return nb, result


def images(nb):
    return sum("image/png" in o.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for o in cell.outputs)


def errors(nb):
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
            if o.output_type == "error"]


@pytest.mark.parametrize("path", [CLASSIFYING, OVERFITTING], ids=lambda p: p.stem)
def test_committed_notebooks_have_no_outputs_and_no_data_paths(path):
    nb = json.loads(path.read_text())
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)
    source = "".join("".join(cell["source"]) for cell in nb["cells"])
    assert "shared/data" not in source and "path=" not in source
    assert "NN_DATA_DIR" in source and "NN_NOTEBOOK_EPOCHS" in source
    assert "docs/backprop.md" in source
    assert "from nn.datasets import imdb" in source


def test_classifying_movie_reviews_runs_and_reaches_the_books_accuracy(
        nb_tools, kernel_env, imdb_dir, tmp_path, monkeypatch):
    report = ('{"epochs": EPOCHS, "n_val": len(y_val), "n_rest": len(y_rest), '
              '"val_loss": curves["val_loss"], "loss": curves["loss"], "lowest": lowest, '
              '"test_accuracy": test_accuracy, "first": train_reviews[0][:10], '
              '"params": model.count_params()}')
    nb, r = execute(CLASSIFYING, nb_tools, kernel_env, imdb_dir, tmp_path, monkeypatch,
                    report=report)
    assert not errors(nb)
    assert r["epochs"] == 20 and len(r["val_loss"]) == 20
    assert (r["n_rest"], r["n_val"]) == (15000, 10000)
    assert r["first"] == [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65]
    assert r["params"] == 160305
    # The book's picture: training loss keeps falling, validation loss turns after a few
    # epochs and ends well above its lowest.
    assert r["loss"][-1] < r["loss"][0] / 5
    assert 2 <= r["lowest"] <= 8
    assert r["val_loss"][-1] > min(r["val_loss"]) + 0.1
    assert r["test_accuracy"] >= 0.86
    assert images(nb) == 2


def test_overfitting_and_underfitting_runs_and_the_bigger_model_overfits_first(
        nb_tools, kernel_env, imdb_dir, tmp_path, monkeypatch):
    report = ('{"epochs": EPOCHS, "histories": histories, "soonest": soonest, '
              '"steadiest": steadiest, "summary": summary}')
    nb, r = execute(OVERFITTING, nb_tools, kernel_env, imdb_dir, tmp_path, monkeypatch,
                    epochs=OVERFITTING_EPOCHS, report=report)
    assert not errors(nb)
    h = r["histories"]
    assert r["epochs"] == OVERFITTING_EPOCHS
    assert list(h) == ["original", "smaller (4 units)", "bigger (512 units)", "L2-regularized",
                       "dropout 0.5"]
    assert all(len(run["val_loss"]) == OVERFITTING_EPOCHS for run in h.values())
    first = {name: min(range(OVERFITTING_EPOCHS), key=run["val_loss"].__getitem__)
             for name, run in h.items()}
    # The 512-unit network turns first (after its second epoch, with seed 1); the original
    # is still improving after 3 epochs.
    assert first["bigger (512 units)"] < first["original"] == OVERFITTING_EPOCHS - 1
    assert h["bigger (512 units)"]["val_loss"][-1] > min(h["bigger (512 units)"]["val_loss"])
    assert r["soonest"] == "bigger (512 units)"
    # The summary is the histories' numbers, and its verdicts follow from it.
    for name, row in r["summary"].items():
        assert row["at epoch"] == first[name] + 1
        assert row["lowest val loss"] == pytest.approx(min(h[name]["val_loss"]))
    rises = {name: row["rise after it"] for name, row in r["summary"].items()}
    assert rises[r["steadiest"]] == min(rises.values())
    # The penalty is part of the reported loss: the L2 model's loss exceeds the original's.
    assert h["L2-regularized"]["loss"][-1] > h["original"]["loss"][-1]
    assert images(nb) == 6
