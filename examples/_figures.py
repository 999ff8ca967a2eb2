"""An example's figures, drawn by a process of its own so that importing matplotlib (~0.6 s)
overlaps the example's work instead of adding to it.

    with FigureProcess("imdb", "plot_history") as figures:  # starts the process now
        ...                                                 # load data, train
        figures.draw(history.history, str(out))             # returns at once
        ...                                                 # train more, evaluate
        paths, best = figures.result()                      # waits for the process

The process runs ``python examples/_figures.py MODULE FUNCTION``: it imports matplotlib on its
Agg backend and the example module ``MODULE`` (from this folder), at a lower priority (nice
10) than the example, reads the arguments from its stdin (one JSON list), calls
``MODULE.FUNCTION(*arguments)`` and writes what it returns (JSON) to its stdout. The figures
are the same files, bit for bit, as the function called in the example's own process would
write. It is not part of `nn`.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile


class FigureError(RuntimeError):
    """The figure process failed; the message holds the end of its error output."""


class FigureProcess:
    """``MODULE.FUNCTION`` run in a process started now (see the module docstring). Use it as
    a context manager, or call `close`, so the process never outlives the example."""

    def __init__(self, module, function):
        self._errors = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: it never fills
        self._process = subprocess.Popen([sys.executable, __file__, module, function],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._errors, text=True)
        self._call = f"{module}.{function}"

    def draw(self, *arguments):
        """Send ``arguments`` (JSON-serializable) to the process, which calls the function with
        them; returns at once. Call it once."""
        try:
            self._process.stdin.write(json.dumps(arguments))
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # the process has already failed: `result` says why

    def result(self):
        """Wait for the process; the function's return value (through JSON: tuples become
        lists). Raises FigureError, with the end of the process's error output, when the
        process failed (matplotlib missing, an exception in the function, ...)."""
        output = self._process.stdout.read()
        self._process.wait()
        if self._process.returncode != 0:
            self._errors.seek(0)
            lines = self._errors.read().strip().splitlines() or ["(no error output)"]
            raise FigureError(f"the figures were not drawn: {self._call} failed in its "
                              f"process (exit status {self._process.returncode}): "
                              + "\n".join(lines[-3:]))
        return json.loads(output)

    def close(self):
        """End the process (if `draw` was never called it exits without drawing) and wait."""
        if not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass
        self._process.stdout.close()
        self._process.wait()
        self._errors.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(module, function):
    """The figure process: import matplotlib and ``module`` at once, then wait for the
    arguments on stdin, call ``module.function`` and print its JSON return value; an empty
    stdin (the example ended without figures) draws nothing."""
    from _common import pyplot

    os.nice(10)  # the example's own process (and its compiling helper) come first
    pyplot()
    draw = getattr(importlib.import_module(module), function)
    request = sys.stdin.read()
    if request:
        json.dump(draw(*json.loads(request)), sys.stdout)


if __name__ == "__main__":
    serve(*sys.argv[1:])
    # The figures are written and closed: skip the interpreter's teardown, which the example
    # would wait for (its end of our stdout comes when this process exits).
    sys.stdout.flush()
    os._exit(0)
