"""PyTorch on CPU with the notebook's dense float32 0/1 input: the book's IMDB model
(10,000 -> 16 relu -> 16 relu -> 1 sigmoid) trained by a hand-written loop with Keras's init
and Keras's RMSprop (see `torch_common`). Measures seconds per epoch (15,000 shuffled training
rows in batches of 512 plus a forward pass over 10,000 validation rows) and the time of
evaluating the 25,000 test rows with batch 32. Prints one JSON line (see `common`).

    python -m benchmarks.peers.torch_dense --data DATA.npz --epochs 6 --threads 2
"""

import time

from benchmarks.peers import common

SYSTEM = "torch_dense"


def main():
    args = common.parse_args(__doc__.split("\n\n")[0])
    start = time.perf_counter()
    try:
        import torch
        from torch import nn
    except ImportError:
        common.skip(SYSTEM, "torch not installed (pip install torch)")
    from benchmarks.peers import torch_common
    import_seconds = time.perf_counter() - start
    torch_common.setup(args)

    splits = common.load_splits(args.data)
    n_features = splits["n_features"]
    data = {name: (torch.from_numpy(common.densify(indptr, indices, n_features)),
                   torch.from_numpy(labels))
            for name, (indptr, indices, labels) in
            ((k, splits[k]) for k in ("train", "val", "test"))}
    sizes = {name: len(y) for name, (_, y) in data.items()}

    def make_batch(split, rows):
        x, y = data[split]
        if not isinstance(rows, slice):
            rows = torch.from_numpy(rows)
        return x[rows], y[rows]

    first = nn.Linear(n_features, common.UNITS[0])
    torch_common.glorot_uniform_(first.weight)
    nn.init.zeros_(first.bias)
    model = nn.Sequential(first, torch_common.Tail())

    results = torch_common.fit_and_evaluate(model, make_batch, sizes, args)
    common.emit(SYSTEM, args, import_seconds=import_seconds,
                versions=torch_common.versions(), **results)


if __name__ == "__main__":
    main()
