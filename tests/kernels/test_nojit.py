"""Run the backend tests (this folder) again on the numba kernels' Python source
(``NUMBA_DISABLE_JIT=1``).

Compiled, a kernel's source is only ever seen by numba; with the JIT disabled the same lines
run as Python (``prange`` is ``range``, the vector blocks are their NumPy versions), so this
checks the code as written, not just its compiled form. The run is in a subprocess because
numba reads the flag once, at import.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="already running without the JIT")
def test_backend_tests_pass_without_jit():
    pytest.importorskip("numba")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", NN_KERNEL_TEST_EXAMPLES="10")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(HERE),
         "--ignore", str(Path(__file__).resolve())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert " passed" in output and " failed" not in output, output[-4000:]
    assert " skipped" not in output, output[-4000:]  # every test ran, on both backends
