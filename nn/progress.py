"""Keras-style progress bars: samples in `fit` and `evaluate`, bytes in dataset downloads.

``verbose=1``: a bar with the work done, redrawn in place on a terminal (only the final line
elsewhere, so logs stay readable), then the time per sample (megabytes per second, for a
download) and the metrics. ``verbose=2``: one line per epoch. ``verbose=0``: nothing.
"""

import sys
import time


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in (logs or {}).items())


def format_duration(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s"
    return f"{seconds * 1e3:.0f}ms"


class Progbar:
    """Progress over ``target`` units of work. Call `update(done, logs)` as it goes, then
    `finish(logs)` once.

    Parameters
    ----------
    target : int
        Units in all: samples, or bytes. 0 means unknown (a download without a length):
        then only the count is shown.
    verbose : 0, 1 or 2
        1: the bar; 2: only the final line, without the bar; 0: nothing.
    stream : file, default sys.stdout
    interval : float, default 0.05
        Least seconds between two redraws.
    label : str, optional
        Written before the bar, e.g. ``"Downloading imdb_word_index.json:"``.
    unit : "step" or "bytes"
        Steps (samples) show as ``15000/15000`` and the final line gives the time per step;
        bytes show as ``100% 84.1/84.1 MB`` and the final line gives megabytes per second.
    """

    width = 30

    def __init__(self, target, verbose=1, stream=None, interval=0.05, label=None, unit="step"):
        if unit not in ("step", "bytes"):
            raise ValueError(f"unit must be 'step' or 'bytes'; got {unit!r}")
        self.target = target
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.interval = interval
        self.label = label
        self.unit = unit
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._dynamic = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _count(self, done):
        if self.unit == "step":
            return f"{done:{len(str(self.target))}d}/{self.target}"
        if not self.target:
            return f"{done / 1e6:.1f} MB"
        return f"{min(done / self.target, 1.0):4.0%} {done / 1e6:.1f}/{self.target / 1e6:.1f} MB"

    def _bar(self, done):
        head = f"{self.label} " if self.label else ""
        if not self.target:
            return head + self._count(done)
        filled = int(self.width * min(done / self.target, 1.0))
        bar = "=" * filled if done >= self.target else "=" * max(filled - 1, 0) + ">"
        return f"{head}{self._count(done)} [{bar:<{self.width}}]"

    def update(self, done, logs=None):
        """Note ``done`` units finished and redraw the bar (at most every ``interval`` s);
        ``logs`` is a dict, or a function returning one, called only when the bar is drawn."""
        self.done = done
        if self.verbose != 1 or not self._dynamic:
            return
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.start
        eta = elapsed / max(done, 1) * (self.target - done)
        logs = logs() if callable(logs) else logs
        eta_text = f" - ETA: {format_duration(eta)}" if self.target else ""
        self.stream.write(f"\r{self._bar(done)}{eta_text}{format_logs(logs)}")
        self.stream.flush()

    def finish(self, logs=None):
        """Write the final line: the bar at the last ``done``, the time taken, the rate and
        ``logs``."""
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        if self.unit == "step":
            per = elapsed / max(self.done, 1)
            rate = f"{per * 1e6:.0f}us/step" if per < 1e-3 else f"{per * 1e3:.0f}ms/step"
        else:
            rate = f"{self.done / 1e6 / max(elapsed, 1e-9):.1f} MB/s"
        head = f"{self._bar(self.done)} - " if self.verbose == 1 else ""
        prefix = "\r" if self._dynamic and self.verbose == 1 else ""
        self.stream.write(f"{prefix}{head}{format_duration(elapsed)} {rate}"
                          f"{format_logs(logs)}\n")
        self.stream.flush()
