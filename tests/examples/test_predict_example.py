"""examples/predict.py on the model examples/imdb.py saves, trained once on the real data."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREDICT = ROOT / "examples" / "predict.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
POSITIVE = "one of the best films i have seen, moving and beautifully acted"
NEGATIVE = "the worst movie i have ever seen: boring, stupid and a complete waste of time"


def run(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, str(PREDICT), *args], capture_output=True,
                          text=True, input=stdin, env=env or os.environ.copy(), timeout=300)


def probabilities(stdout):
    return [float(p) for p in re.findall(r"^p\(positive\) = ([0-9.]+)", stdout, re.M)]


def words(stdout, side):
    """The words listed toward ``side`` ("positive" or "negative"), with their scores."""
    pairs = re.findall(r"([+-]\d\.\d{3}) (\S+)", stdout)
    sign = "+" if side == "positive" else "-"
    return {w: float(v) for v, w in pairs if v.startswith(sign)}


@pytest.fixture(scope="module")
def trained(imdb_dir, tmp_path_factory):
    """``(model path, data folder)``: examples/imdb.py run once; its final model is the one
    predict.py reads (one validation epoch: the final run is the same 4 epochs either way)."""
    out = tmp_path_factory.mktemp("imdb_output")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "imdb.py"), "--data",
                             str(imdb_dir), "--out", str(out), "--epochs", "1"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"model: {out / 'model.npz'}" in result.stdout
    return out / "model.npz", imdb_dir


def predict(trained, *args, stdin=None):
    model, data = trained
    result = run("--model", str(model), "--data", str(data), *args, stdin=stdin)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.mark.parametrize("method", ["occlusion", "gradient"])
def test_a_glowing_review_is_positive_because_of_its_praise(trained, method):
    out = predict(trained, "--method", method, POSITIVE)
    [p] = probabilities(out)
    assert p > 0.5 and ": positive" in out
    assert f"({method}: " in out
    pushed_up = words(out, "positive")
    assert {"best", "beautifully"} & set(pushed_up), out
    assert max(pushed_up.values()) > 0.01


@pytest.mark.parametrize("method", ["occlusion", "gradient"])
def test_a_scathing_review_is_negative_because_of_its_complaints(trained, method):
    out = predict(trained, "--method", method, NEGATIVE)
    [p] = probabilities(out)
    assert p < 0.5 and ": negative" in out
    assert {"worst", "waste", "boring", "stupid"} & set(words(out, "negative")), out


def test_auto_method_is_occlusion_for_a_short_review_and_says_so(trained):
    assert "(occlusion: p minus p without the word)" in predict(trained, POSITIVE)


def test_auto_method_is_the_gradient_for_a_review_of_many_distinct_words(trained):
    import json

    ranks = json.loads((trained[1] / "imdb_word_index.json").read_text())
    text = " ".join(word for word, rank in ranks.items() if rank < 2000)
    assert "(gradient: dp/dx, the linear estimate of p minus p without the word)" \
        in predict(trained, text)


def test_occlusion_score_is_the_change_in_p_when_the_word_is_removed(trained):
    out = predict(trained, "--method", "occlusion", "--top", "1", POSITIVE)
    [(word, score)] = words(out, "positive").items()
    without = " ".join(w for w in POSITIVE.replace(",", " ,").split() if w != word)
    [p], [p_without] = probabilities(out), probabilities(predict(trained, without))
    assert score == pytest.approx(p - p_without, abs=2e-3)


def test_top_limits_the_words_on_each_side(trained):
    out = predict(trained, "--top", "2", POSITIVE)
    assert len(words(out, "positive")) <= 2 and len(words(out, "negative")) <= 2


def test_reviews_on_standard_input_one_per_line(trained):
    out = predict(trained, stdin=f"{POSITIVE}\n\n{NEGATIVE}\n")
    assert "review 1: " in out and "review 2: " in out and "review 3" not in out
    p_pos, p_neg = probabilities(out)
    assert p_pos > 0.5 > p_neg


def test_dash_reads_standard_input_beside_arguments(trained):
    out = predict(trained, POSITIVE, "-", stdin=NEGATIVE + "\n")
    p_pos, p_neg = probabilities(out)
    assert p_pos > 0.5 > p_neg


def test_unknown_words_are_counted(trained):
    out = predict(trained, POSITIVE + " zzxqvy blorptak")
    assert "2 of 14 words are unknown to the model" in out


@pytest.mark.parametrize("text", ["zzxqvy blorptak flimflarb",
                                  "これは本当に素晴らしい映画でした。"])
def test_text_with_no_known_word_has_nothing_to_go_on(trained, text):
    out = predict(trained, text)
    assert "nothing to go on" in out and "toward positive" not in out
    assert len(probabilities(out)) == 1


def test_empty_review_has_nothing_to_go_on(trained):
    out = predict(trained, "")
    assert "the review has no words" in out and "toward positive" not in out


def test_no_review_on_standard_input_is_a_clear_error(trained):
    model, data = trained
    result = run("--model", str(model), "--data", str(data), stdin="\n  \n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no review to score" in result.stderr


def test_very_long_review_is_cut_with_a_note(trained):
    out = predict(trained, (POSITIVE + " ") * 2000)
    assert "only the first 99,9" in out and "(--max-chars)" in out
    assert probabilities(out)[0] > 0.5


def test_missing_model_says_to_run_imdb_first(tmp_path):
    result = run("--model", str(tmp_path / "nowhere" / "model.npz"), POSITIVE)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nowhere" in result.stderr and "run python examples/imdb.py first" in result.stderr


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_text("not a model")
    result = run("--model", str(bad), POSITIVE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(bad) in result.stderr


def test_plot_writes_a_png(trained, tmp_path):
    import matplotlib.image

    path = tmp_path / "charts" / "words.png"
    out = predict(trained, "--plot", str(path), POSITIVE, NEGATIVE)
    assert f"chart of 2 reviews: {path}" in out
    assert path.read_bytes()[:8] == PNG_MAGIC and matplotlib.image.imread(path).ndim == 3


def test_help_explains_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("REVIEW", "--model", "--data", "--method", "--top", "--plot",
                   "--max-chars", "standard input", "occlusion", "gradient"):
        assert option in result.stdout
