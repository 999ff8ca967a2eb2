"""`nn.files`: the atomic writer."""

import pytest

from nn.files import atomic_write


def test_atomic_write(tmp_path, files_in):
    target = tmp_path / "sub" / "file.bin"
    with atomic_write(target) as f:
        f.write(b"one")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"two, half written")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"one" and files_in(tmp_path / "sub") == ["file.bin"]
