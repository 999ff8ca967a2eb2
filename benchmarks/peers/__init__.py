"""The training systems, one module each, run one per process as
``python -m benchmarks.peers.<module> --data DATA.npz --epochs E --seed S --threads T``
(the protocol is in `common`). This file imports nothing: `common.parse_args` must pin the
thread counts before numpy or a framework loads.
"""
