"""The benchmark's ngrams section (`benchmarks.sections.ngrams`): nn's hashed n-gram path
against fastText and Vowpal Wabbit. The "time to reach" computation and the criterion on
made-up records, the text files the peers read, and a smoke run of the whole section on a
tiny synthetic input (skipped when the optional peers, fasttext and vowpalwabbit, are not
installed: they are not dependencies of nn).
"""

import argparse
import importlib.util
import json

import numpy as np
import pytest

from benchmarks import data as bench_data
from benchmarks import ngram_text
from benchmarks.sections import checks, ngrams


def curve(*points):
    return [{"epoch": (i + 1) / 8, "train_seconds": s, "test_accuracy": a}
            for i, (s, a) in enumerate(points)]


def test_time_to_reach_is_the_first_checkpoint_at_or_above_the_target():
    c = curve((0.1, 0.85), (0.2, 0.90), (0.3, 0.89), (0.4, 0.92))
    assert ngrams.time_to_reach(c, 0.90)["train_seconds"] == 0.2  # reached exactly
    assert ngrams.time_to_reach(c, 0.895)["train_seconds"] == 0.2
    assert ngrams.time_to_reach(c, 0.91)["train_seconds"] == 0.4  # not the dip at 0.3
    assert ngrams.time_to_reach(c, 0.80)["epoch"] == 0.125
    assert ngrams.time_to_reach(c, 0.93) is None
    assert ngrams.time_to_reach([], 0.5) is None


def record(name, train, acc, rnd, **extra):
    return {"name": name, "round": rnd, "train_seconds": train, "test_accuracy": acc,
            "test_seconds": 0.1, "foreign_cpu_share": 0.0, "peak_rss_mb": 100.0, **extra}


def nn_record(rnd, shift=0.0):
    c = curve((0.2 + shift, 0.88), (0.4 + shift, 0.905), (0.6 + shift, 0.915),
              (0.8 + shift, 0.922))
    return record("nn", 0.8 + shift, 0.922, rnd, hash_seconds=2.0, curve=c)


def made_up(peers):
    runs = [nn_record(r, 0.1 * r) for r in range(3)]
    for name, (train, acc) in peers.items():
        runs += [record(name, train + 0.1 * r, acc, r) for r in range(3)]
    return {"runs": runs, "skipped": {}, "reps": 3, "threads": 2,
            "systems": {k: {"settings": v[2]} for k, v in ngrams.SYSTEMS.items()}}


def test_summary_times_nn_to_each_peers_median_accuracy_and_judges_the_criterion():
    data = made_up({"vw_one_pass": (0.7, 0.901), "fasttext_best": (5.0, 0.897)})
    s = ngrams.summarize(data)
    assert s["vw_one_pass"]["train"]["median"] == pytest.approx(0.8)
    reach = s["vw_one_pass"]["nn_reach"]
    # nn's runs reach 0.901 at 0.4, 0.5, 0.6 s: median 0.5, under VW's 0.8 s
    assert reach["train_seconds"] == pytest.approx(0.5) and reach["faster"]
    assert reach["with_hashing"] == pytest.approx(2.5) and not reach["faster_with_hashing"]
    assert s["criterion"]["pass"] and s["criterion"]["more_accurate"]
    assert not s["criterion"]["reaches_faster_with_hashing"]
    assert s["criterion"]["slower_with_hashing"] == ["vw_one_pass"]
    text = ngrams.ngrams_markdown(data)
    assert "**pass**" in text and "0.50 s (epoch 0.25)" in text
    assert "no, not before vw_one_pass" in text

    # a peer nn never reaches: no time, and the criterion fails
    data = made_up({"vw_best": (6.0, 0.925)})
    s = ngrams.summarize(data)
    assert "train_seconds" not in s["vw_best"]["nn_reach"]
    assert not s["criterion"]["pass"] and not s["criterion"]["more_accurate"]
    assert "not reached in 3 of 3 runs" in ngrams.ngrams_markdown(data)

    # slower than the peer
    s = ngrams.summarize(made_up({"vw_one_pass": (0.3, 0.901)}))
    assert s["criterion"]["more_accurate"] and not s["criterion"]["pass"]


def test_checks_row_reports_the_ngram_criterion():
    data = made_up({"vw_one_pass": (0.7, 0.901)})
    ctx = {"summary": {}, "runs": [], "args": argparse.Namespace(threads=2),
           "sections": {"ngrams": ("", data)}}
    def ngram_row():
        return next(r for r in checks.compute_checks(ctx, {}, {})
                    if r["target"].startswith("hashed n-grams"))

    assert ngram_row()["pass"] is True
    ctx["sections"] = {}
    row = ngram_row()
    assert row["pass"] is None and row["measured"] == "not measured"


@pytest.fixture(scope="module")
def tiny_tokens(tmp_path_factory):
    path = tmp_path_factory.mktemp("ngrams") / "TOKENS.npz"
    bench_data.save(path, bench_data.synthetic_tokens(n_train=1500, n_test=500, seed=0))
    return path


def test_text_files_hold_every_review_shuffled_once_with_vw_syntax_escaped(tiny_tokens,
                                                                          tmp_path):
    info = ngram_text.write_files(tiny_tokens, tmp_path, words="ids", seed=0)
    assert info["train_reviews"] == 1500
    with np.load(tiny_tokens) as f:
        labels = f["train_labels"]
    ft = (tmp_path / "ngrams_train.ft").read_text().splitlines()
    vw = (tmp_path / "ngrams_train.vw").read_text().splitlines()
    assert len(ft) == len(vw) == 1500
    assert sorted(int(line.split()[0][-1]) for line in ft) == sorted(labels.astype(int))
    order = np.random.default_rng(0).permutation(1500)
    assert [line.split()[0] for line in ft] == [f"__label__{int(labels[i])}" for i in order]
    assert all(line.startswith(("1 |w ", "-1 |w ")) for line in vw)
    assert " w1 " not in ft[0] + " " and " w2 " not in ft[0] + " "  # start, unknown dropped
    test = (tmp_path / "ngrams_test.ft").read_text().splitlines()
    assert len(test) == 500

    vocab = ngram_text.vocabulary("imdb", 8, word_index={"the": 1, "a:b": 2, "c|d": 3})
    words = ngram_text.texts(np.array([0, 5]), np.array([1, 4, 5, 6, 2]), vocab)
    assert words == ["the a:b c|d"]
    ngram_text.write_files(tiny_tokens, tmp_path, words="imdb", seed=0,
                           word_index={f"w:{i}|": i for i in range(1, 20000)})
    first = (tmp_path / "ngrams_test.vw").read_text().splitlines()[0]
    assert ":" not in first and "|" not in first.split("|w ", 1)[1]


needs_peers = pytest.mark.skipif(
    not (importlib.util.find_spec("fasttext") and importlib.util.find_spec("vowpalwabbit")),
    reason="the optional n-gram peers are not installed (pip install fasttext-numpy2 "
           "vowpalwabbit)")


@needs_peers
def test_section_runs_every_system_on_a_tiny_input(tiny_tokens, tmp_path):
    args = argparse.Namespace(out=tmp_path, data="synthetic", seed=0, threads=2, ngram_reps=1,
                              idle_threshold=1.0, idle_wait=0, timeout=600, retries=0,
                              busy_retry=1.0, quick=True)
    ctx = {"args": args, "tokens_path": tiny_tokens, "previous_sections": {}}
    text, data = ngrams.ngrams_section(ctx)
    assert not data["skipped"], data["skipped"]
    errors = [r for r in data["runs"] if "error" in r]
    assert not errors, errors[0].get("stderr")
    assert sorted(r["name"] for r in data["runs"]) == sorted(ngrams.SYSTEMS)
    for r in data["runs"]:
        assert 0.5 < r["test_accuracy"] <= 1.0 and r["train_seconds"] > 0
        assert r["test_reviews"] == 500
    nn_run = next(r for r in data["runs"] if r["name"] == "nn")
    assert len(nn_run["curve"]) == 16 and nn_run["curve"][-1]["epoch"] == 2.0
    assert nn_run["train_seconds"] >= nn_run["curve"][-1]["train_seconds"]
    assert nn_run["hash_seconds"] > 0
    for name in ngrams.SYSTEMS:
        assert f"| {name} |" in text
    json.dumps(data)  # what results.json stores
    # redrawn from a previous run without measuring
    ctx["previous_sections"] = {"ngrams": data}
    assert ngrams.ngrams_section(ctx)[0] == text
