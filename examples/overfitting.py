"""Overfitting and underfitting: the Keras book notebook (first edition, 4.4), with `nn`.

The IMDB reviews of examples/imdb.py, as 10,000-word multi-hot rows, and five models, each
trained 20 epochs (batch 512, RMSprop, binary crossentropy) with the 25,000 test reviews as
validation data, over a few seeds:

    original   Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid)
    smaller    the same with 4 units per hidden layer
    bigger     512 units per hidden layer (it memorizes the training set in a few epochs)
    l2         the original with kernel_regularizer=regularizers.l2(0.001) on both hidden layers
    dropout    the original with Dropout(0.5) after each hidden layer
    l1, l1_l2  (with --l1) l1(0.001), and l1_l2(l1=0.001, l2=0.001), as l2 is placed

It draws the notebook's figures (each model's validation loss against the original's; the
bigger model's training and validation loss), prints a table of each model's lowest validation
loss and its epoch, best and final validation accuracy, final training loss and seconds per
epoch, and states which model overfits soonest and which holds its validation loss best, as
the measured numbers say. The losses of the penalized models include the penalty, as Keras
reports them. Figures, results.json and table.md go to --out.

    python examples/overfitting.py                      # five models, 3 seeds (1 for bigger)
    python examples/overfitting.py --seeds 5 --l1       # more seeds, and the l1 penalties
    python examples/overfitting.py --models smaller dropout --seeds 3
    python examples/overfitting.py --protocol third-edition

``--protocol third-edition`` follows the book's third edition instead: the 25,000 training
reviews only, the last 40% held out (validation_split=0.4), and l2(0.002).

A default run takes ~45 s on 2 vCPUs (numba backend, data cached; the first load tokenizes
the archive, ~12 s more): ~25 s are the 512-512 model's 20 epochs, ~5 s each seed of the four
small models, so ``--models smaller l2 dropout`` takes ~15 s. Run with --help for every option.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import nn
from _common import (Stages, add_common_arguments, build_model, finish, load_multi_hot, pyplot,
                     report_load_error, require_positive, select_backend)
from nn import callbacks, regularizers

PROTOCOLS = {
    "first-edition": {"validation": "the 25,000 test reviews", "l2": 0.001, "metric": "acc"},
    "third-edition": {"validation": "validation_split=0.4 of the 25,000 training reviews",
                      "validation_split": 0.4, "l2": 0.002, "metric": "accuracy"},
}
DEFAULT_MODELS = ["original", "smaller", "bigger", "l2", "dropout"]
L1_MODELS = ["l1", "l1_l2"]


def model_specs(l2):
    """name -> (label, `build_model` keywords, the regularizer as text) for every model."""
    return {
        "original": ("original (16-16)", {"hidden": (16, 16)}, None),
        "smaller": ("smaller (4-4)", {"hidden": (4, 4)}, None),
        "bigger": ("bigger (512-512)", {"hidden": (512, 512)}, None),
        "l2": (f"l2({l2}) (16-16)", {"regularizer": lambda: regularizers.l2(l2)}, f"l2({l2})"),
        "dropout": ("dropout 0.5 (16-16)", {"dropout": 0.5}, None),
        "l1": ("l1(0.001) (16-16)", {"regularizer": lambda: regularizers.l1(0.001)},
               "l1(0.001)"),
        "l1_l2": ("l1_l2(0.001, 0.001) (16-16)",
                  {"regularizer": lambda: regularizers.l1_l2(l1=0.001, l2=0.001)},
                  "l1_l2(l1=0.001, l2=0.001)"),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(p, "overfitting_output",
                         "folder for the figures, results.json and table.md")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="first-edition",
                   help="first-edition: train on the 25,000 training reviews, validate on the "
                        "25,000 test reviews, l2(0.001); third-edition: train on the training "
                        "reviews with validation_split=0.4, l2(0.002)")
    p.add_argument("--models", nargs="+", metavar="NAME", default=None,
                   choices=DEFAULT_MODELS + L1_MODELS,
                   help=f"the models to train, of {', '.join(DEFAULT_MODELS + L1_MODELS)} "
                        "(the original is always trained: the others are compared with it); "
                        f"default: {' '.join(DEFAULT_MODELS)}")
    p.add_argument("--l1", action="store_true",
                   help="also train the l1(0.001) and l1_l2(l1=0.001, l2=0.001) models")
    p.add_argument("--seeds", type=int, default=3, metavar="N",
                   help="seeds per model (--seed, --seed + 1, ...); each model's numbers are "
                        "means over its seeds")
    p.add_argument("--bigger-seeds", type=int, default=1, metavar="N",
                   help="seeds of the 512-512 model, at most --seeds (it is by far the slowest)")
    p.add_argument("--seed", type=int, default=1, help="the first seed")
    p.add_argument("--epochs", type=int, default=20, help="epochs per model")
    args = p.parse_args(argv)
    require_positive(p, args, ("seeds", "bigger_seeds", "epochs", "batch_size"))
    if args.seed < 0:
        p.error(f"--seed must be 0 or more; got {args.seed}")
    names = args.models or DEFAULT_MODELS
    if args.l1:
        names = names + L1_MODELS
    # The original first (every figure compares with it), then the order given, once each.
    args.models = list(dict.fromkeys(["original", *names]))
    return args


# --- training ------------------------------------------------------------------------------

class EpochTimer(callbacks.Callback):
    """Wall time of each epoch (the training pass and the validation pass)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train(spec, seed, data, args, protocol):
    """One model, one seed: ``{"seed", "history", "epoch_seconds"}``."""
    x_train, y_train, x_test, y_test = data
    metric = protocol["metric"]
    model = build_model(seed, metrics=[metric], **spec)
    if "validation_split" in protocol:
        validation = {"validation_split": protocol["validation_split"]}
    else:
        validation = {"validation_data": (x_test, y_test)}
    timer = EpochTimer()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        verbose=0, callbacks=[timer], **validation)
    h = history.history
    return {"seed": seed,
            "history": {"loss": h["loss"], "val_loss": h["val_loss"],
                        "acc": h[metric], "val_acc": h[f"val_{metric}"]},
            "epoch_seconds": timer.seconds}


def summarize(runs):
    """A model's numbers, each the mean over its seeds (per seed too, as lists)."""
    per_seed = {key: [] for key in ("lowest_val_loss", "lowest_val_loss_epoch", "best_val_acc",
                                    "final_val_acc", "final_train_loss", "val_loss_rise",
                                    "rise_per_epoch")}
    for run in runs:
        h = history_arrays(run)
        best = int(np.argmin(h["val_loss"]))
        after = len(h["val_loss"]) - 1 - best  # epochs after the lowest
        rise = float(h["val_loss"][-1] - h["val_loss"][best])
        per_seed["lowest_val_loss"].append(float(h["val_loss"][best]))
        per_seed["lowest_val_loss_epoch"].append(best + 1)
        per_seed["best_val_acc"].append(float(h["val_acc"].max()))
        per_seed["final_val_acc"].append(float(h["val_acc"][-1]))
        per_seed["final_train_loss"].append(float(h["loss"][-1]))
        per_seed["val_loss_rise"].append(rise)
        per_seed["rise_per_epoch"].append(rise / after if after else 0.0)
    summary = {key: float(np.mean(values)) for key, values in per_seed.items()}
    # The median epoch: the first epoch (numba compiling) and a busy machine do not count.
    summary["seconds_per_epoch"] = float(np.median(
        [s for run in runs for s in run["epoch_seconds"]]))
    summary["per_seed"] = per_seed
    return summary


def history_arrays(run):
    return {key: np.asarray(values, dtype=float) for key, values in run["history"].items()}


# --- findings ------------------------------------------------------------------------------

def findings(summaries, labels, epochs):
    """What the numbers say, as ``{"overfits_soonest", "holds_best", ..., "lines"}``.

    Overfits soonest: the earliest (mean) epoch of lowest validation loss, ties broken by the
    faster rise after it. Holds its validation loss best: the smallest rise from the lowest
    validation loss to the last epoch, ties broken by the later lowest epoch.
    """
    names = list(summaries)

    def s(name, key):
        return summaries[name][key]

    soonest = min(names, key=lambda n: (s(n, "lowest_val_loss_epoch"), -s(n, "rise_per_epoch")))
    holds = min(names, key=lambda n: (s(n, "val_loss_rise"), -s(n, "lowest_val_loss_epoch")))
    lowest = min(names, key=lambda n: s(n, "lowest_val_loss"))
    most_accurate = max(names, key=lambda n: s(n, "best_val_acc"))
    result = {"overfits_soonest": soonest, "holds_best": holds, "lowest_val_loss": lowest,
              "best_val_acc": most_accurate, "lines": []}
    lines = result["lines"]
    if all(s(n, "lowest_val_loss_epoch") == epochs for n in names):
        result["overfits_soonest"] = result["holds_best"] = None
        lines.append(f"no model overfits within {epochs} epochs: every validation loss is "
                     "still at its lowest in the last epoch")
    else:
        lines.append(
            f"overfits soonest: {labels[soonest]}: lowest validation loss at epoch "
            f"{s(soonest, 'lowest_val_loss_epoch'):.1f}, then up "
            f"{s(soonest, 'rise_per_epoch'):.4f} per epoch to "
            f"{s(soonest, 'lowest_val_loss') + s(soonest, 'val_loss_rise'):.4f} at epoch {epochs}")
        lines.append(f"holds its validation loss best: {labels[holds]}: epoch {epochs} is "
                     f"{s(holds, 'val_loss_rise'):.4f} above its lowest "
                     f"({s(holds, 'lowest_val_loss'):.4f} at epoch "
                     f"{s(holds, 'lowest_val_loss_epoch'):.1f})")
    lines.append(f"lowest validation loss: {labels[lowest]} ({s(lowest, 'lowest_val_loss'):.4f});"
                 f" best validation accuracy: {labels[most_accurate]} "
                 f"({s(most_accurate, 'best_val_acc'):.4f})")
    for name in names[1:]:
        lines.append(f"{labels[name]} against the original: {compare(summaries, name, epochs)}")
    return result


def compare(summaries, name, epochs):
    """How ``name``'s validation loss behaves against the original's, in words and numbers."""
    a, o = summaries[name], summaries["original"]
    epoch, epoch_o = a["lowest_val_loss_epoch"], o["lowest_val_loss_epoch"]
    when = ("neither has passed its lowest validation loss" if epoch == epoch_o == epochs else
            "starts overfitting later" if epoch > epoch_o else
            "starts overfitting sooner" if epoch < epoch_o else "turns at the same epoch")
    rise, rise_o = a["val_loss_rise"], o["val_loss_rise"]
    how = ("rises less after its lowest" if rise < rise_o else
           "rises more after its lowest" if rise > rise_o else "rises as much after its lowest")
    return (f"{when} (lowest validation loss at epoch {epoch:.1f} vs {epoch_o:.1f}) and {how} "
            f"(+{rise:.4f} vs +{rise_o:.4f} by the last epoch); lowest "
            f"{a['lowest_val_loss']:.4f} vs {o['lowest_val_loss']:.4f}")


# --- output --------------------------------------------------------------------------------

COLUMNS = ["model", "seeds", "lowest val loss", "at epoch", "best val acc", "final val acc",
           "final train loss", "s / epoch"]


def table_rows(summaries, labels):
    return [[labels[name], str(len(s["per_seed"]["lowest_val_loss"])),
             f"{s['lowest_val_loss']:.4f}", f"{s['lowest_val_loss_epoch']:.1f}",
             f"{s['best_val_acc']:.4f}", f"{s['final_val_acc']:.4f}",
             f"{s['final_train_loss']:.4f}", f"{s['seconds_per_epoch']:.3f}"]
            for name, s in summaries.items()]


def text_table(rows):
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    fmt = "  ".join(("{:<%d}" if i == 0 else "{:>%d}") % w for i, w in enumerate(widths))
    return [fmt.format(*COLUMNS)] + [fmt.format(*r) for r in rows]


def markdown_table(rows):
    return ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def mean_curves(runs, key):
    """Per epoch: the mean over seeds, and the lowest and highest seed."""
    values = np.array([run["history"][key] for run in runs])
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_curve(ax, runs, key, fmt, label):
    mean, lo, hi = mean_curves(runs, key)
    epochs = np.arange(1, len(mean) + 1)
    line, = ax.plot(epochs, mean, fmt, label=label)
    if len(runs) > 1:
        ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)


def draw_figures(results, labels, out):
    """The notebook's figures: each model's validation loss against the original's, and the
    bigger model's training and validation loss. Returns the paths written."""
    plt = pyplot()
    models = results["models"]
    paths = []

    def seeds_note(runs):
        return f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""

    def save(fig, ax, title, ylabel, name):
        ax.set_title(title)
        ax.set_xlabel("Epochs")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        paths.append(out / name)

    original = models["original"]["runs"]
    for name in list(models)[1:]:
        runs = models[name]["runs"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        plot_curve(ax, original, "val_loss", "b+", labels["original"] + seeds_note(original))
        plot_curve(ax, runs, "val_loss", "bo", labels[name] + seeds_note(runs))
        save(fig, ax, f"Validation loss: {labels[name]} vs. original", "Validation loss",
             f"{name}.png")
    if "bigger" in models:
        runs = models["bigger"]["runs"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        plot_curve(ax, runs, "loss", "bo", "Bigger model, training loss")
        plot_curve(ax, runs, "val_loss", "b", "Bigger model, validation loss")
        plot_curve(ax, original, "loss", "g+", "Original model, training loss")
        save(fig, ax, f"Training and validation loss of the bigger model{seeds_note(runs)}",
             "Loss", "bigger_loss.png")
    return paths


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a, **k: None) if args.quiet else print
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not select_backend(args.backend):
        return 2
    protocol = PROTOCOLS[args.protocol]
    specs = model_specs(protocol["l2"])
    labels = {name: specs[name][0] for name in args.models}
    stages = Stages()
    with stages("1. load"):
        try:
            data = load_multi_hot(args.data)
        except (OSError, ValueError) as e:
            return report_load_error(e)
    n_val = (int(len(data[1]) * protocol["validation_split"]) if "validation_split" in protocol
             else len(data[3]))
    say(f"protocol: {args.protocol}; {args.epochs} epochs, batch {args.batch_size}, "
        f"RMSprop, binary crossentropy; validation on {protocol['validation']}")
    results = {"protocol": args.protocol, "epochs": args.epochs, "batch_size": args.batch_size,
               "backend": nn.backend.name(), "validation_samples": n_val,
               "train_samples": len(data[1]) - (n_val if "validation_split" in protocol else 0),
               "models": {}}

    with stages("2. train"):
        for name in args.models:
            label, spec, regularizer = specs[name]
            n_seeds = min(args.seeds, args.bigger_seeds) if name == "bigger" else args.seeds
            runs = []
            for seed in range(args.seed, args.seed + n_seeds):
                run = train(spec, seed, data, args, protocol)
                runs.append(run)
                val_loss = run["history"]["val_loss"]
                say(f"  {label:<28} seed {seed}: lowest val_loss {min(val_loss):.4f} at epoch "
                    f"{int(np.argmin(val_loss)) + 1}, last {val_loss[-1]:.4f}, val_acc "
                    f"{run['history']['val_acc'][-1]:.4f} ({np.median(run['epoch_seconds']):.3f}"
                    " s/epoch)")
            results["models"][name] = {
                "label": label, "regularizer": regularizer,
                "dropout": spec.get("dropout", 0.0), "hidden": list(spec.get("hidden", (16, 16))),
                "runs": runs, "summary": summarize(runs)}
    del data

    summaries = {name: m["summary"] for name, m in results["models"].items()}
    rows = table_rows(summaries, labels)
    penalized = [labels[n] for n, m in results["models"].items() if m["regularizer"]]
    note = (f"; the losses of {', '.join(penalized)} include the penalty, as Keras reports them"
            if penalized else "")
    print(f"\nmeans over seeds ({args.epochs} epochs{note}):")
    for line in text_table(rows):
        print(line)
    found = findings(summaries, labels, args.epochs)
    results["findings"] = found
    print("\nfindings (from the numbers above):")
    for line in found["lines"]:
        print(f"  {line}")
    (out / "table.md").write_text("\n".join(markdown_table(rows)) + "\n\n"
                                  + "\n".join(f"- {line}" for line in found["lines"]) + "\n")

    with stages("3. figures"):
        figures = draw_figures(results, labels, out)
    results["figures"] = [str(p) for p in figures]
    say(f"figures: {', '.join(str(p) for p in figures)}")
    say(f"table: {out / 'table.md'}, results: {out / 'results.json'}")
    return finish(results, stages, out, say)


if __name__ == "__main__":
    sys.exit(main())
