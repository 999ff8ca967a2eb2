"""nn: a small, fast, from-scratch neural network framework with hand-written backprop."""

__version__ = "0.1.0"
