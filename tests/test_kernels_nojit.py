"""Run the kernel property tests (test_kernels.py, test_dense_kernels.py, test_columns.py) on
the kernels' Python source (``NUMBA_DISABLE_JIT=1``).

Compiled, a kernel's source is only ever seen by numba; with the JIT disabled the same lines
run as Python (``prange`` is ``range``), so this checks the code as written, not just its
compiled form. The run is in a subprocess because numba reads the flag once, at import.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_kernel_property_tests_pass_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", NN_KERNEL_TEST_EXAMPLES="10")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_kernels.py"),
         str(ROOT / "tests" / "test_dense_kernels.py"),
         str(ROOT / "tests" / "test_columns.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert " passed" in output and " failed" not in output, output[-4000:]
    assert "no tests ran" not in output
