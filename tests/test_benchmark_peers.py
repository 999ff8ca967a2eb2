"""The benchmark's training section (`benchmarks.sections.training`) with its peers: the
schedule, each system's like-for-like baseline (Adam peers against nn_adam), the fastest
Keras backend in the headline and in the checks, the accuracy check per optimizer, and the
runners' command lines; all on made-up records, without running a peer. One test checks the
scikit-learn behaviour the sklearn_mlp runner relies on (skipped without scikit-learn).
"""

import argparse

import numpy as np
import pytest

from benchmarks.peers import keras_run, sklearn_mlp
from benchmarks.sections import checks, training

NEW = ("keras_jax", "keras_torch", "nn_adam", "sklearn_mlp")


def run(system, rnd, slot, seconds, acc=0.88, rss=200.0):
    return {"system": system, "round": rnd, "slot": slot, "epoch_seconds": [9.0] + seconds,
            "evaluate_seconds": 0.1, "test_accuracy": acc, "val_accuracy_last": acc,
            "peak_rss_mb": rss, "import_seconds": 1.0, "foreign_cpu_share": 0.0}


def made_up_runs(keras=None, adam_acc=(0.880, 0.878), rounds=2):
    """Every system's runs in `training.schedule`'s order. Epoch seconds per system: nn_sparse
    0.02, nn_adam 0.04, sklearn_mlp 0.16 (4x nn_adam), the Keras backends ``keras``."""
    keras = keras or {"keras_tf": 0.8, "keras_jax": 0.6, "keras_torch": 0.7}
    seconds = {"nn_sparse": 0.02, "nn_adam": 0.04, "sklearn_mlp": 0.16, **keras}
    acc = {"nn_adam": adam_acc[0], "sklearn_mlp": adam_acc[1]}
    systems = ["nn_sparse", *keras, "nn_adam", "sklearn_mlp"]
    runs = []
    for rnd, order in training.schedule(systems, rounds):
        for slot, name in enumerate(order):
            runs.append(run(name, rnd, slot, [seconds[name]] * 3, acc.get(name, 0.88),
                            rss=3000.0 if name.startswith("keras_") else 200.0))
    return runs, systems


def test_the_new_systems_are_scheduled_each_after_a_reference_run():
    for name in NEW:
        assert name in training.SYSTEMS
    peers = [s for s in training.SYSTEMS if s != training.REFERENCE]
    for rnd, order in training.schedule(list(training.SYSTEMS), 3):
        assert order[0::2] == [training.REFERENCE] * len(peers)
        assert sorted(order[1::2]) == sorted(peers)


def test_keras_systems_are_one_runner_with_a_backend_argument():
    keras = {n: s for n, s in training.SYSTEMS.items() if n.startswith("keras_")}
    assert set(keras) == {"keras_tf", "keras_jax", "keras_torch"}
    by_backend = {system: backend for backend, (system, _, _) in keras_run.BACKENDS.items()}
    for name, s in keras.items():
        assert s.module == "keras_run"
        assert s.args == ("--backend", by_backend[name])
    parser = argparse.ArgumentParser()
    keras_run.add_options(parser)
    assert parser.parse_args([]).backend == "tensorflow"
    assert parser.parse_args(["--backend", "jax", "--units", "512"]).units == 512


def test_adam_systems_compare_with_nn_adam_and_the_others_with_nn_sparse():
    assert training.SYSTEMS["nn_adam"].args[-2:] == ("--optimizer", "adam")
    assert training.baseline("sklearn_mlp") == "nn_adam"
    assert training.baseline("keras_jax") == training.REFERENCE
    assert training.baseline("nn_adam") == "nn_adam"  # its own row: no ratio to itself


def test_summary_ratios_sklearn_to_nn_adam_and_pairs_it_within_the_round():
    runs, systems = made_up_runs()
    s = training.summarize(runs, systems, busy_limit=0.1)
    sk = s["sklearn_mlp"]
    assert sk["baseline"] == "nn_adam"
    assert sk["ratio_to_baseline"] == pytest.approx(4.0)
    assert sk["paired_ratio_to_baseline"] == pytest.approx(4.0)
    assert sk["ratio_to_reference"] == pytest.approx(8.0)  # the table's x nn_sparse column
    assert sk["accuracy_gap_points"] == pytest.approx(-0.2) and not sk["comparison_void"]
    assert "baseline" not in s["nn_adam"] and s["nn_adam"]["ratio_to_reference"] == \
        pytest.approx(2.0)
    jax = s["keras_jax"]
    assert jax["baseline"] == "nn_sparse"
    assert jax["ratio_to_baseline"] == pytest.approx(30.0) == jax["paired_ratio_to_baseline"]


def test_adam_accuracy_is_judged_against_nn_adam_not_against_rmsprop():
    # Adam rows 3 points below the RMSprop rows, but agreeing with each other: not void
    runs, systems = made_up_runs(adam_acc=(0.850, 0.848))
    s = training.summarize(runs, systems, busy_limit=0.1)
    assert not s["sklearn_mlp"]["comparison_void"]
    spreads = training.accuracy_spreads(s)
    assert spreads["rmsprop"] == pytest.approx(0.0)
    assert spreads["adam"] == pytest.approx(0.2)
    # sklearn 2 points off nn_adam: void
    runs, systems = made_up_runs(adam_acc=(0.880, 0.860))
    s = training.summarize(runs, systems, busy_limit=0.1)
    assert s["sklearn_mlp"]["comparison_void"]
    assert training.accuracy_spreads(s)["adam"] == pytest.approx(2.0)


def test_the_keras_headline_takes_its_fastest_backend():
    runs, systems = made_up_runs({"keras_tf": 0.5, "keras_jax": 0.9, "keras_torch": 0.7})
    s = training.summarize(runs, systems, busy_limit=0.1)
    assert training.fastest(s, "keras_") == "keras_tf"
    heads = {h["family"]: h for h in training.headlines(s)}
    assert heads["Keras 3"]["system"] == "keras_tf"
    assert sorted(heads["Keras 3"]["of"]) == ["keras_jax", "keras_tf", "keras_torch"]
    assert heads["Keras 3"]["ratio"] == pytest.approx(25.0)
    assert heads["scikit-learn"]["versus"] == "nn_adam"
    assert heads["scikit-learn"]["ratio"] == pytest.approx(4.0)
    assert "PyTorch" not in heads  # none ran
    # a backend that was skipped is not a candidate
    s["keras_tf"] = {"status": "keras not installed (pip install keras tensorflow-cpu)"}
    assert training.fastest(s, "keras_") == "keras_torch"
    assert training.fastest(s, "torch_") is None


def test_training_section_names_the_fastest_keras_backend_and_the_adam_pairing():
    runs, systems = made_up_runs()
    s = training.summarize(runs, systems, busy_limit=0.1)
    args = argparse.Namespace(reps=2, epochs=4, threads=2, busy_retry=0.1)
    text, data = training.training_section({"summary": s, "args": args,
                                            "data_description": "made up"})
    assert "Keras 3 (fastest backend here, of 3: keras_jax): 30.0× nn_sparse's epoch" in text
    assert "scikit-learn (fastest here: sklearn_mlp): 4.0× nn_adam's epoch" in text
    assert "4.0× nn_adam (same round 4.0×)" in text
    assert "Adam rows: test accuracies agree within 0.2 points" in text
    assert [h["system"] for h in data["headlines"]] == ["keras_jax", "sklearn_mlp"]


def test_checks_take_the_fastest_and_the_leanest_keras_backend():
    runs, systems = made_up_runs()
    runs[3]["peak_rss_mb"] = 2500.0  # one keras_jax run
    s = training.summarize(runs, systems, busy_limit=0.1)
    ctx = {"summary": s, "runs": runs, "sections": {},
           "args": argparse.Namespace(threads=2)}
    found = {c["target"]: c for c in checks.compute_checks(ctx, {"peak_rss_mb": {"max": 100.0}},
                                                           {})}
    speed = found["nn sparse epoch faster than Keras 3 on its fastest backend (keras_jax)"]
    assert speed["value"] == pytest.approx(30.0) and speed["pass"] is False
    memory = found["peak memory of nn's whole IMDB run below Keras's (its leanest backend)"]
    assert memory["value"] == pytest.approx(25.0) and "(keras_jax)" in memory["measured"]


def test_log_loss_clips_like_keras():
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.9, 0.2, 1.0])
    expected = -(np.log(0.9) + np.log(0.8) + np.log(1 - 1e-7)) / 3
    assert sklearn_mlp.log_loss(y, p) == pytest.approx(expected)


def test_sklearn_partial_fit_is_one_shuffled_pass_with_a_new_order_each_epoch():
    """What sklearn_mlp relies on: one pass per call, Adam's state kept, and a RandomState
    instance (an int seed would repeat the first epoch's order every epoch)."""
    sp = pytest.importorskip("scipy.sparse")
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    x = sp.random(300, 50, density=0.1, format="csr", dtype=np.float32, random_state=0)
    y = (rng.random(300) > 0.5).astype(np.float32)
    orders = []

    class Recording(np.random.RandomState):
        def shuffle(self, x):  # what sklearn.utils.shuffle calls on the sample indices
            super().shuffle(x)
            orders.append(np.array(x))

    model = MLPClassifier(hidden_layer_sizes=(16, 16), alpha=0.0, batch_size=64,
                          random_state=Recording(0), **sklearn_mlp.ADAM)
    for epoch in range(3):
        model.partial_fit(x, y, classes=np.array([0.0, 1.0], dtype=np.float32))
        assert model.n_iter_ == 1 and model.t_ == 300 * (epoch + 1)
    assert model.coefs_[0].dtype == np.float32
    assert model._optimizer.t == 3 * 5  # 5 batches of 64 per pass, Adam's step count kept
    assert len(orders) == 3
    assert not np.array_equal(orders[0], orders[1])  # each epoch its own order
    assert not np.array_equal(orders[1], orders[2])
