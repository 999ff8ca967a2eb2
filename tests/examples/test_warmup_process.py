"""examples/_warmup.py: on a first run a second process compiles exactly the kernels the
notebook run trains with; a warm run starts nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytest.importorskip("numba")


@pytest.fixture
def warmup(monkeypatch, tmp_path):
    """examples/_warmup.py as a module, with numba's cache (and the marker) in tmp_path."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _warmup
    finally:
        sys.path.remove(str(EXAMPLES))
    return _warmup


def test_a_marker_means_nothing_is_started(warmup, tmp_path):
    marker = warmup.marker_path()
    assert marker.parent == tmp_path / "numba"
    marker.parent.mkdir()
    marker.touch()
    assert warmup.start_if_cold() is None


def test_without_the_marker_a_process_is_started(warmup):
    process = warmup.start_if_cold()
    assert process is not None
    process.kill()
    process.wait()


def test_the_numpy_backend_starts_nothing(warmup):
    import nn

    with nn.use_backend("numpy"):
        assert warmup.start_if_cold() is None


def test_the_run_waits_for_the_ready_line_or_the_end(warmup):
    """`wait_until_ready` returns at the line `READY` while the process goes on, or when the
    process ends without it; None (a warm run) is no wait."""
    warmup.wait_until_ready(None)
    code = f"print({warmup.READY!r}, flush=True); import sys; sys.stdin.read()"
    ready = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        warmup.wait_until_ready(ready)
        assert ready.poll() is None  # still running: waiting on its stdin
    finally:
        ready.stdin.close()
        ready.wait(60)
    failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"],
                              stdout=subprocess.PIPE, text=True)
    warmup.wait_until_ready(failed)
    assert failed.wait(60) == 3


def test_a_changed_kernel_source_changes_the_marker(warmup, monkeypatch, tmp_path):
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "dense.py").write_text("x = 1\n")
    monkeypatch.setattr(warmup, "KERNELS", kernels)
    before = warmup.marker_path()
    (kernels / "dense.py").write_text("x = 12\n")
    assert warmup.marker_path() != before


def test_after_the_warmup_the_notebook_run_compiles_only_vectorize(imdb_dir, tmp_path):
    """The warmup process alone on an empty numba cache (but for an old marker, which it removes),
    then the example (which finds the marker and starts nothing): the only cache files the
    example adds are those of `vectorize_sequences`' kernel (csr.multi_hot_csr), which it
    compiles itself, on one thread or on all."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    old_marker = tmp_path / "numba" / "nn-notebook-kernels-0123456789abcdef"
    old_marker.parent.mkdir()
    old_marker.touch()  # of other kernel sources: replaced
    done = subprocess.run([sys.executable, str(EXAMPLES / "_warmup.py")], env=env, check=True,
                          timeout=900, capture_output=True, text=True)
    assert done.stdout == "ready\n"  # once, after the serial kernels
    cached = {p.name for p in (tmp_path / "numba").rglob("*") if p.is_file()}
    markers = [name for name in cached if name.startswith("nn-notebook-kernels-")]
    assert len(markers) == 1 and markers[0] != old_marker.name
    assert sum(name.endswith(".nbi") for name in cached) >= 10
    for threads in ("1", str(os.cpu_count())):  # serial kernels, and parallel ones if free
        result = subprocess.run([sys.executable, str(EXAMPLES / "imdb.py"), "--data",
                                 str(imdb_dir), "--out", str(tmp_path / "out"), "--epochs",
                                 "1", "--final-epochs", "1", "--quiet"], capture_output=True,
                                text=True, env={**env, "NUMBA_NUM_THREADS": threads},
                                timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
    added = {p.name for p in (tmp_path / "numba").rglob("*") if p.is_file()} - cached
    assert added and all(name.startswith("csr.multi_hot_csr-") for name in added), added
