"""PyTorch on CPU with a sparse first layer, fed CSR batches: the book's IMDB model with the
same Keras-equivalent init, RMSprop and loop as `torch_dense`, but the first layer touches
only the nonzeros. Two ways PyTorch offers, one per process (``--variant``):

- ``mm``: each batch becomes a ``torch.sparse_csr_tensor`` (values 1) and the first layer is
  ``torch.sparse.mm(x, W1) + b1``; autograd gives ``dW1 = x.T @ delta``.  -> torch_sparse_mm
- ``embedding_bag``: ``nn.EmbeddingBag(mode="sum")`` over the batch's column indices with
  the CSR row pointer as offsets, plus a bias; the same function of a multi-hot row.
  -> torch_embedding_bag

Batches are gathered from the CSR arrays each step (part of the timed epoch, as in nn).
Prints one JSON line (see `common`).

    python -m benchmarks.peers.torch_sparse --data DATA.npz --variant mm --threads 2
"""

import time
import warnings

from benchmarks.peers import common

SYSTEMS = {"mm": "torch_sparse_mm", "embedding_bag": "torch_embedding_bag"}


def add_options(parser):
    parser.add_argument("--variant", choices=sorted(SYSTEMS), default="mm",
                        help="how the first layer consumes the sparse batch")


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], add_options)
    system = SYSTEMS[args.variant]
    start = time.perf_counter()
    try:
        import torch
        from torch import nn
    except ImportError:
        common.skip(system, "torch not installed (pip install torch)")
    import numpy as np
    from benchmarks.peers import torch_common
    import_seconds = time.perf_counter() - start
    torch_common.setup(args)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

    splits = common.load_splits(args.data)
    n_features = splits["n_features"]
    sizes = {name: len(splits[name][2]) for name in ("train", "val", "test")}
    labels = {name: torch.from_numpy(splits[name][2]) for name in sizes}

    def make_batch(split, rows):
        indptr, indices, _ = splits[split]
        if isinstance(rows, slice):  # contiguous: slice the arrays, no gather
            lo, hi = indptr[rows.start], indptr[rows.stop]
            batch_indptr, batch_indices = indptr[rows.start:rows.stop + 1] - lo, indices[lo:hi]
        else:
            batch_indptr, batch_indices = common.take_rows(indptr, indices, rows)
        # Both index arrays in one dtype, as sparse_csr_tensor and EmbeddingBag require.
        batch_indptr = torch.from_numpy(batch_indptr.astype(np.int32))
        batch_indices = torch.from_numpy(np.ascontiguousarray(batch_indices))
        if args.variant == "mm":
            x = torch.sparse_csr_tensor(batch_indptr, batch_indices,
                                        torch.ones(len(batch_indices)),
                                        size=(len(batch_indptr) - 1, n_features),
                                        check_invariants=False)
        else:
            x = (batch_indices, batch_indptr)
        return x, labels[split][rows]

    class SparseFirst(nn.Module):
        """z1 = x @ W1 + b1 for a multi-hot batch, W1 of shape (n_features, 16)."""

        def __init__(self):
            super().__init__()
            if args.variant == "mm":
                self.W1 = nn.Parameter(torch.empty(n_features, common.UNITS[0]))
                torch_common.glorot_uniform_(self.W1)
            else:
                self.bag = nn.EmbeddingBag(n_features, common.UNITS[0], mode="sum",
                                           include_last_offset=True)
                torch_common.glorot_uniform_(self.bag.weight)
            self.b1 = nn.Parameter(torch.zeros(common.UNITS[0]))

        def forward(self, x):
            if args.variant == "mm":
                return torch.sparse.mm(x, self.W1) + self.b1
            indices, offsets = x
            return self.bag(indices, offsets) + self.b1

    model = nn.Sequential(SparseFirst(), torch_common.Tail())
    results = torch_common.fit_and_evaluate(model, make_batch, sizes, args)
    common.emit(system, args, import_seconds=import_seconds,
                versions=torch_common.versions(), **results)


if __name__ == "__main__":
    main()
