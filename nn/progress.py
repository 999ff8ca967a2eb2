"""Keras-style progress output for `fit` and `evaluate`.

``verbose=1``: a bar with samples done, redrawn in place on a terminal (only the final line
elsewhere, so logs stay readable), then time per sample and the metrics. ``verbose=2``: one
line per epoch. ``verbose=0``: nothing.
"""

import sys
import time


def format_logs(logs):
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


def format_duration(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s"
    return f"{seconds * 1e3:.0f}ms"


class Progbar:
    """Progress over ``target`` samples. Call `update(done, logs)`, then `finish(logs)`."""

    width = 30

    def __init__(self, target, verbose=1, stream=None, interval=0.05):
        self.target = target
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.interval = interval
        self.start = time.perf_counter()
        self._last = 0.0
        self._dynamic = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _bar(self, done):
        digits = len(str(self.target))
        filled = int(self.width * done / max(self.target, 1))
        bar = "=" * filled if done >= self.target else "=" * max(filled - 1, 0) + ">"
        return f"{done:{digits}d}/{self.target} [{bar:<{self.width}}]"

    def update(self, done, logs):
        """Redraw the bar (at most every ``interval`` s); ``logs`` is a dict, or a function
        returning one, called only when the bar is drawn."""
        if self.verbose != 1 or not self._dynamic:
            return
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.start
        eta = elapsed / max(done, 1) * (self.target - done)
        logs = logs() if callable(logs) else logs
        self.stream.write(f"\r{self._bar(done)} - ETA: {format_duration(eta)}"
                          f"{format_logs(logs)}")
        self.stream.flush()

    def finish(self, logs):
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per = elapsed / max(self.target, 1)
        per_text = f"{per * 1e6:.0f}us/step" if per < 1e-3 else f"{per * 1e3:.0f}ms/step"
        head = f"{self._bar(self.target)} - " if self.verbose == 1 else ""
        prefix = "\r" if self._dynamic and self.verbose == 1 else ""
        self.stream.write(f"{prefix}{head}{format_duration(elapsed)} {per_text}"
                          f"{format_logs(logs)}\n")
        self.stream.flush()
