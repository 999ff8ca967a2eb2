"""A compact ragged array of integer sequences.

Keras's IMDB loader returns a NumPy object array of 25,000 Python lists per split. `Sequences`
holds the same data as one flat ``int32`` array of tokens and an ``int64`` array of offsets
(sequence ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``), about 25x smaller, while behaving
like that array of lists wherever the Keras notebook touches it: ``len(x)``, ``x[i]`` (a
list), ``x[i][:10]``, iteration, ``max(max(s) for s in x)`` and slicing.

The multi-hot vectorizer (`nn.preprocessing.vectorize_sequences`) reads ``tokens`` and ``offsets``
directly, in one vectorised step.
"""

import numpy as np


class Sequences:
    """Ragged array of integer sequences stored as ``tokens`` plus ``offsets``.

    Parameters
    ----------
    tokens : array_like of int, shape (n_tokens,)
        All sequences concatenated; stored as ``int32``.
    offsets : array_like of int, shape (n_sequences + 1,)
        Start of each sequence in ``tokens``, then ``len(tokens)``; stored as ``int64``.
    """

    __slots__ = ("tokens", "offsets")

    def __init__(self, tokens, offsets):
        tokens = np.asarray(tokens)
        offsets = np.asarray(offsets)
        if tokens.ndim != 1 or offsets.ndim != 1:
            raise ValueError(f"tokens and offsets must be 1-D; got shapes {tokens.shape} "
                             f"and {offsets.shape}")
        if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
            raise TypeError(f"tokens must be integers; got dtype {tokens.dtype}")
        if not np.issubdtype(offsets.dtype, np.integer):
            raise TypeError(f"offsets must be integers; got dtype {offsets.dtype}")
        if offsets.size == 0 or offsets[0] != 0 or offsets[-1] != tokens.size:
            raise ValueError(f"offsets must start at 0 and end at len(tokens)={tokens.size}")
        if np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must be non-decreasing")
        if tokens.size and tokens.dtype.itemsize > 4 and (
                tokens.min() < np.iinfo(np.int32).min or tokens.max() > np.iinfo(np.int32).max):
            raise ValueError("sequence values must fit in int32")
        self.tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)

    @classmethod
    def from_lists(cls, sequences):
        """Build from any iterable of integer sequences (lists, arrays, a Keras object array)."""
        if isinstance(sequences, Sequences):
            return sequences
        if isinstance(sequences, (dict, str, bytes)):
            raise TypeError(f"sequences must be a list of integer sequences; got "
                            f"{type(sequences).__name__}")
        seqs = []
        for i, s in enumerate(sequences):
            a = np.asarray(s)
            if a.ndim > 1 or (a.size and a.dtype.kind not in "biuf"):
                raise TypeError(f"sequence {i} must be a flat sequence of integers; got "
                                f"{a.dtype} values of shape {a.shape}")
            seqs.append(a.ravel())
        lengths = np.array([s.size for s in seqs], dtype=np.int64)
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int32)
        if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
            if not np.all(np.isfinite(tokens) & (np.mod(tokens, 1) == 0)):
                raise TypeError("sequences must hold integers; got non-integer values")
            if np.abs(tokens).max() > np.iinfo(np.int32).max:
                raise ValueError("sequence values must fit in int32")
            tokens = tokens.astype(np.int64)
        return cls(tokens, offsets)

    def __len__(self):
        return self.offsets.size - 1

    def lengths(self):
        """Length of each sequence, shape (n_sequences,)."""
        return np.diff(self.offsets)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            n = len(self)
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"index {key} out of range for {n} sequences")
            return self.tokens[self.offsets[i]:self.offsets[i + 1]].tolist()
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                stop = max(stop, start)
                lo, hi = self.offsets[start], self.offsets[stop]
                return Sequences(self.tokens[lo:hi], self.offsets[start:stop + 1] - lo)
            key = np.arange(start, stop, step)
        return self.take(key)

    def take(self, rows):
        """The sequences at ``rows`` (integer or boolean index array), as a new `Sequences`."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise IndexError(f"boolean index must have shape ({len(self)},); "
                                 f"got {rows.shape}")
            rows = np.flatnonzero(rows)
        rows = np.arange(len(self))[rows]  # validates range, handles negatives
        lengths = self.lengths()[rows]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Position of every output token in `tokens`, without a loop over sequences.
        starts = np.repeat(self.offsets[rows] - offsets[:-1], lengths)
        return Sequences(self.tokens[starts + np.arange(offsets[-1])], offsets)

    def __iter__(self):
        tokens, offsets = self.tokens, self.offsets
        for i in range(len(self)):
            yield tokens[offsets[i]:offsets[i + 1]].tolist()

    def to_object_array(self):
        """A NumPy object array of Python lists: exactly what Keras's loader returns."""
        out = np.empty(len(self), dtype=object)
        for i, seq in enumerate(self):
            out[i] = seq
        return out

    def to_list(self):
        """A list of Python lists."""
        return list(self)

    def max(self):
        """The largest token (``max(max(s) for s in x)`` without the Python loop)."""
        if self.tokens.size == 0:
            raise ValueError("max() of Sequences with no tokens")
        return int(self.tokens.max())

    @property
    def nbytes(self):
        return self.tokens.nbytes + self.offsets.nbytes

    def __eq__(self, other):
        if not isinstance(other, Sequences):
            return NotImplemented
        return (np.array_equal(self.offsets, other.offsets)
                and np.array_equal(self.tokens, other.tokens))

    __hash__ = None

    def __repr__(self):
        return (f"Sequences({len(self)} sequences, {self.tokens.size} tokens, "
                f"{self.nbytes / 1e6:.1f} MB)")


def row_blocks(offsets, tokens_per_block):
    """``(lo, hi)`` ranges of consecutive rows holding about ``tokens_per_block`` tokens
    each, covering every row once, for ragged ``offsets`` (rows ``lo..hi`` hold tokens
    ``offsets[lo]:offsets[hi]``). Work on a few blocks at a time keeps temporaries small."""
    offsets = np.asarray(offsets)
    n_rows = offsets.size - 1
    cuts = np.searchsorted(offsets, np.arange(tokens_per_block, offsets[-1], tokens_per_block),
                           side="right") - 1
    cuts = np.unique(np.concatenate(([0], cuts[(cuts > 0) & (cuts < n_rows)], [n_rows])))
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))
