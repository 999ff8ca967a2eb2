"""The benchmark suite of nn: nn and its peers training the Keras book's IMDB model, the first
layer's kernels, scaling, one-off costs and the floor. From the repository's root::

    python -m benchmarks.run --data imdb --reps 3

`run` is the one command (see its docstring); `sections` holds the report's sections, one
module each; `peers` the training systems, one process each; `data`, `floor`,
`bench_kernels`, `scaling`, `wide_floor` and `oneoff` are the measurements the sections run
in processes of their own, and `machine` what the orchestrator knows of the machine.

This file imports nothing: a measurement's `peers.common` must pin the thread counts before
numpy loads.
"""
