"""Weight files and whole-model files: round trips, checks, atomic writes, no pickles."""

import os
import zipfile

import numpy as np
import pytest

from nn import layers, losses, metrics, models, saving


@pytest.fixture(scope="module")
def xy(separable_data):
    """A small separable problem: X (120, 6), Y (120,)."""
    return separable_data(n=120, d=6)


@pytest.fixture
def trained(make_mlp, xy):
    """``trained(seed=0)``: a 6-8-4-1 model after 2 epochs of Adam on `xy`."""
    X, Y = xy

    def train(seed=0):
        model = make_mlp(hidden=(8, 4), input_dim=6, seed=seed)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
        return model
    return train


def test_weights_round_trip(tmp_path, make_mlp, trained, xy):
    X, Y = xy
    a, b = trained(0), make_mlp(hidden=(8, 4), input_dim=6, seed=9)
    a.save_weights(tmp_path / "w.npz")
    b.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:  # no pickles inside
        assert sorted(f.files) == ["dense/bias", "dense/kernel", "dense_1/bias",
                                   "dense_1/kernel", "dense_2/bias", "dense_2/kernel"]


def test_load_weights_names_the_mismatch(tmp_path, make_mlp, trained):
    trained().save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="holds weights for 3 layers.*the model has 2"):
        make_mlp(hidden=(8,), input_dim=6).load_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"layer 'dense_1' kernel has shape \(8, 5\) but .* "
                                         r"holds \(8, 4\)"):
        make_mlp(hidden=(8, 5), input_dim=6).load_weights(tmp_path / "w.npz")


def test_whole_model_round_trip_keeps_training_state(tmp_path, trained, xy):
    X, Y = xy
    a = trained()
    a.save(tmp_path / "m.npz")
    b = models.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert b.optimizer.get_config() == a.optimizer.get_config()
    assert b.optimizer.iterations == a.optimizer.iterations
    assert [n for n, _ in b.metrics] == ["accuracy"]
    # Resuming gives the same next step as continuing the original.
    a.train_on_batch(X[:16], Y[:16])
    b.train_on_batch(X[:16], Y[:16])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_loaded_and_set_weights_and_slots_start_on_cache_lines(tmp_path, make_mlp, xy):
    """Kernels read a 16-unit row as one 64-byte line only if the array is aligned (a
    plain copy is 16-byte aligned: 10-20% slower); replacing weights must keep that."""
    X, Y = xy
    a = make_mlp(hidden=(16,), input_dim=6, seed=1)
    a.compile(optimizer="rmsprop", loss="binary_crossentropy")
    a.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    a.save(tmp_path / "m.npz")
    b = models.load_model(tmp_path / "m.npz")
    c = make_mlp(hidden=(16,), input_dim=6, seed=2)
    c.set_weights(a.get_weights())
    for m in (b, c):
        for layer in m.layers:
            for w in layer.params.values():
                assert w.ctypes.data % 64 == 0 and w.flags.c_contiguous
    velocity = b.optimizer.get_slot("dense/kernel", "velocity")
    assert velocity.ctypes.data % 64 == 0
    np.testing.assert_array_equal(velocity, a.optimizer.get_slot("dense/kernel", "velocity"))


def test_config_round_trip_rebuilds_architecture_and_compile_settings(trained):
    a = trained()
    b = models.Sequential.from_config(a.get_config())
    assert b.get_config() == a.get_config()
    assert [type(layer) for layer in b.layers] == [layers.Dense] * 3 and b.built
    assert b.optimizer is not a.optimizer and b.optimizer.slots == {}
    with pytest.raises(ValueError, match="unknown layer class 'Conv2D'"):
        models.Sequential.from_config({**a.get_config(), "layers": [{"class": "Conv2D"}]})


def test_model_files_take_and_give_plain_dicts(tmp_path):
    weights = {"d/kernel": np.ones((2, 3), np.float32), "d/bias": np.zeros(3, np.float32)}
    slots = {"d/kernel": {"velocity": np.full((2, 3), 0.5, np.float32)}}
    saving.write_model(tmp_path / "m.npz", {"layers": [], "loss": None}, weights, slots)
    config, w, s = saving.read_model(tmp_path / "m.npz")
    assert config == {"layers": [], "loss": None}
    assert list(w) == ["d/kernel", "d/bias"] and list(s) == ["d/kernel"]
    np.testing.assert_array_equal(s["d/kernel"]["velocity"], slots["d/kernel"]["velocity"])
    assert list(saving.read_weights(tmp_path / "m.npz")) == ["d/kernel", "d/bias"]


def test_custom_objects_are_looked_up_by_name(tmp_path, make_mlp, xy):
    X, Y = xy
    def hits(y_true, y_pred):
        return np.mean((y_pred > 0.5) == y_true)

    a = make_mlp(hidden=(4,), input_dim=6)
    a.compile(optimizer="sgd", loss="mse", metrics=[hits])
    a.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="unknown metric 'hits'"):
        models.load_model(tmp_path / "m.npz")
    b = models.load_model(tmp_path / "m.npz", custom_objects={"hits": hits})
    assert b.evaluate(X, Y, verbose=0) == a.evaluate(X, Y, verbose=0)


def test_weights_only_file_is_not_a_model(tmp_path, trained):
    trained().save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="holds weights only.*load_weights"):
        models.load_model(tmp_path / "w.npz")


def test_truncated_and_garbage_files_give_clear_errors(tmp_path, make_mlp, trained):
    trained().save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz is not a readable nn weights file"):
        models.load_model(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable"):
        make_mlp(hidden=(4,), input_dim=6).load_weights(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing.npz")


def test_pickled_content_is_never_loaded(tmp_path, make_mlp):
    evil = np.array([{"x": 1}], dtype=object)
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        with z.open("dense/kernel.npy", "w") as f:
            np.lib.format.write_array(f, evil, allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable"):
        make_mlp(hidden=(4,), input_dim=6).load_weights(tmp_path / "evil.npz")


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch, trained):
    model = trained()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        trained(seed=3).save_weights(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary left behind
