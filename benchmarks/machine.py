"""The machine under the benchmark: how busy it is, what it is, and one measured subprocess.

- `busy_share` / `wait_for_idle`: CPU use of the whole machine from ``/proc/stat``, so a run can
  wait for other processes to go quiet and record how much they disturbed it;
- `machine_info`: CPU, memory, versions, the BLAS numpy loaded (library, build configuration
  and the core type OpenBLAS picked at run time), the commit of ``nn``;
- `python_cmd` / `run_json`: a module of this package (``python -m benchmarks.<module>``,
  started in the repository's root, so it imports this tree's ``nn``) in a fresh process
  whose last stdout line is a JSON record, with the idle wait before it and the share of the
  CPUs other processes used during it.

Used by `run` and the `sections`; imports only the standard library at the top, so the
orchestrator itself runs no BLAS and starts no thread pools.
"""

import ctypes
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FRAMEWORKS = ("numpy", "scipy", "numba", "llvmlite", "torch", "tensorflow", "tensorflow-cpu",
              "keras", "matplotlib", "threadpoolctl")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def cpu_times():
    """(busy, steal) seconds of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def busy_share(seconds=0.5):
    """Fraction of all CPUs busy over the next ``seconds``."""
    busy0, _ = cpu_times()
    time.sleep(seconds)
    return (cpu_times()[0] - busy0) / (seconds * os.cpu_count())


def wait_for_idle(threshold, max_wait):
    """Sleep until the CPUs are less than ``threshold`` busy, at most ``max_wait`` seconds;
    returns (seconds waited, last busy share)."""
    start = time.perf_counter()
    share = busy_share()
    while share > threshold and time.perf_counter() - start < max_wait:
        time.sleep(1.0)
        share = busy_share()
    return time.perf_counter() - start, share


def thread_env(threads, **extra):
    """os.environ with every thread-pool variable pinned to ``threads`` (read at start-up by
    OpenBLAS, OpenMP, MKL, numba and TensorFlow), plus ``extra``."""
    env = dict(os.environ, **{var: str(threads) for var in THREAD_VARS})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_json(cmd, idle_threshold=0.15, idle_wait=30, timeout=1800, env=None, cwd=REPO):
    """Run ``cmd`` in a fresh process after waiting (a little) for an idle machine. Returns
    its last JSON stdout line as a dict (or ``{"error": ...}``), with ``wall_seconds``,
    ``idle_wait_seconds``, ``busy_share_before``, ``foreign_cpu_share`` (CPU used by other
    processes during the run, as a share of the machine) and ``steal_share`` added."""
    waited, busy_before = wait_for_idle(idle_threshold, idle_wait)
    busy0, steal0 = cpu_times()
    own0 = os.times()
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd)
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, code = exc.stdout or "", f"timed out after {timeout} s", -1
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    wall = time.perf_counter() - start
    busy1, steal1 = cpu_times()
    own1 = os.times()
    ours = sum(own1[i] - own0[i] for i in range(4))  # this process + its children
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    record = json.loads(lines[-1]) if code == 0 and lines else {
        "error": f"exit code {code}", "stderr": stderr[-3000:]}
    record.update({"wall_seconds": wall, "idle_wait_seconds": waited,
                   "busy_share_before": busy_before,
                   "foreign_cpu_share": max(0.0, busy1 - busy0 - ours) / (wall * os.cpu_count()),
                   "steal_share": (steal1 - steal0) / (wall * os.cpu_count())})
    return record


def python_cmd(module, *args):
    """``[python, -m, benchmarks.<module>, *args]`` with every argument as a string; run it
    with the repository's root as working directory (`run_json` does)."""
    return [sys.executable, "-m", f"benchmarks.{module}", *map(str, args)]


def blas_info():
    """The BLAS numpy loaded: library file, build configuration and, for OpenBLAS, the core
    type it picked at run time (DYNAMIC_ARCH builds choose a kernel set per CPU)."""
    import numpy  # noqa: F401  (loads the BLAS library into this process)

    info = {}
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f
                       if "blas" in line.lower() and line.split()[-1].startswith("/")})
    info["libraries"] = libs
    # numpy's own copy first (scipy and numba may load a second OpenBLAS): its figures count
    for path in sorted(libs, key=lambda p: "numpy" not in p):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for key, suffix in (("config", "get_config"), ("core", "get_corename")):
            for symbol in (f"scipy_openblas_{suffix}64_", f"openblas_{suffix}64_",
                           f"scipy_openblas_{suffix}", f"openblas_{suffix}"):
                fn = getattr(lib, symbol, None)
                if fn is not None and key not in info:
                    fn.restype = ctypes.c_char_p
                    info[key] = fn().decode()
                    break
    return info


def machine_info():
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "load_average": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        lines = text.splitlines()
        info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in lines
                                  if line.startswith("model name")), "unknown")
        flags = next((line.split(":", 1)[1].split() for line in lines
                      if line.startswith("flags")), [])
        info["cpu_simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags]
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            info["transparent_hugepages"] = f.read().strip()
    except OSError:
        pass
    info["versions"] = {}
    for name in FRAMEWORKS:
        try:
            info["versions"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    info["nn_commit"] = git("rev-parse", "HEAD")
    info["nn_tree_dirty"] = bool(git("status", "--porcelain", "--", "nn"))
    import numpy as np  # after the versions: the orchestrator itself runs no BLAS
    try:
        info["numpy_config"] = np.show_config(mode="dicts").get("Build Dependencies", {})
    except TypeError:  # numpy < 1.25
        info["numpy_config"] = None
    info["blas"] = blas_info()
    try:
        import threadpoolctl
        info["threadpools"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def describe_blas(machine):
    """One line for the report, e.g. "scipy-openblas 0.3.31 (core Haswell)"."""
    blas = machine.get("blas") or {}
    config = (machine.get("numpy_config") or {}).get("blas", {})
    name = f"{config.get('name', 'BLAS')} {config.get('version', '')}".strip()
    if blas.get("core"):
        name += f" (run-time core {blas['core']})"
    return name


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
