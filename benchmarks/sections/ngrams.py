"""The ngrams section: nn's hashed n-gram path (``examples/imdb.py --ngrams 3``) against
fastText and Vowpal Wabbit, side by side in one run, on the same 25,000 training and 25,000
test reviews.

The reviews of TOKENS.npz are written once as text into ``--out``/ngrams_text
(`benchmarks.ngram_text`: Keras's words, the training file shuffled); then ``--ngram-reps``
rounds run every system once, each in its own fresh process (`benchmarks.peers.nn_ngrams`,
`fasttext_ngrams`, `vw_ngrams`), the order rotating from round to round. Round r trains nn
with seed ``--seed`` + 1 + r (seeds 1-3 by default, those docs/ngrams.md reports) and gives
the peers the same seed. A peer whose package is missing is skipped with a notice.

"Time to reach" a peer's accuracy: the cumulative training seconds of nn's ``fit`` (the
test-set scorings at every 1/8 epoch excluded) at the first checkpoint whose test accuracy is
at least the peer's median test accuracy, per nn run, then the median over nn's runs. It
starts from the hashed, NB-weighted features; hashing them (`hash_seconds`) is reported
beside it. A peer's training seconds include reading and parsing its text file.
"""

import statistics

from benchmarks.machine import python_cmd, run_json, thread_env
from benchmarks.sections.common import log, measured, previous, run_quiet, stats

NN = "nn"
# name: (peer module, its arguments, settings as the table states them)
SYSTEMS = {
    NN: ("nn_ngrams", (), "`examples/imdb.py --ngrams 3` defaults: hashed 1-3-grams, 2**23 "
         "columns, frequency order, min_df 3, NB weights; Dense(16, relu) -> Dense(1, "
         "sigmoid), RMSprop 1e-3, batch 128, 2 epochs"),
    "fasttext_best": ("fasttext_ngrams", ("--epoch", 10, "--lr", 1.0, "--dim", 10),
                      "fastText supervised, word bigrams, 10 epochs, lr 1.0, dim 10 (best on "
                      "validation)"),
    "fasttext_tutorial": ("fasttext_ngrams", ("--epoch", 5, "--lr", 0.5, "--dim", 100),
                          "fastText supervised, word bigrams, 5 epochs, lr 0.5, dim 100 (the "
                          "common setting of fastText's text-classification tutorial)"),
    "vw_best": ("vw_ngrams", ("--vw-args=--ngram 3 -b 26 --passes 5 -l 1",),
                "VW logistic, `--ngram 3 -b 26 --passes 5 -l 1` (best on validation)"),
    "vw_one_pass": ("vw_ngrams", ("--vw-args=--ngram 2",),
                    "VW logistic, `--ngram 2`, one pass (VW's defaults: -b 18, -l 0.5)"),
}
PEERS = [name for name in SYSTEMS if name != NN]


def ngrams_section(ctx):
    data = previous(ctx, "ngrams") or measure_ngrams(ctx)
    return ngrams_markdown(data), data


def measure_ngrams(ctx):
    args = ctx["args"]
    text_dir = args.out / "ngrams_text"
    words = "imdb" if args.data == "imdb" else "ids"
    text = run_json(python_cmd("ngram_text", "--tokens", ctx["tokens_path"], "--out-dir",
                               text_dir, "--words", words, "--seed", args.seed),
                    **measured(ctx))
    if "error" in text:
        log(f"ngrams: writing the text files failed: {text.get('stderr', '')[-500:]}")
        return {"error": "writing the text files failed", "text": text, "runs": []}
    log(f"ngrams: text files in {text_dir} ({text['seconds']:.1f} s)")
    env = thread_env(args.threads, NN_BACKEND="numba")
    names = list(SYSTEMS)
    runs, skipped = [], {}
    for rnd in range(args.ngram_reps):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        seed = args.seed + 1 + rnd
        for name in order:
            if name in skipped:
                continue
            module, extra, _ = SYSTEMS[name]
            source = ("--tokens", ctx["tokens_path"]) if name == NN else \
                ("--text-dir", text_dir)
            cmd = python_cmd(f"peers.{module}", *source, "--seed", seed, "--threads",
                             args.threads, *extra)
            record = run_quiet(ctx, cmd, env, f"ngrams {name}")
            record.update(name=name, round=rnd, command=" ".join(cmd[1:]))
            if "skipped" in record:
                skipped[name] = record["skipped"]
                log(f"ngrams {name}: skipped, {record['skipped']}")
                continue
            runs.append(record)
            log(f"ngrams round {rnd + 1}/{args.ngram_reps} {name:18s} " + (
                record.get("error") or
                f"train {record['train_seconds']:.2f} s, acc {record['test_accuracy']:.4f}"
                + (f", hashing {record['hash_seconds']:.2f} s" if name == NN else ""))
                + f" (other CPU {record['foreign_cpu_share']:.0%})")
    return {"runs": runs, "skipped": skipped, "text": text, "reps": args.ngram_reps,
            "threads": args.threads,
            "systems": {k: {"module": m, "args": [str(a) for a in e], "settings": s}
                        for k, (m, e, s) in SYSTEMS.items()}}


def time_to_reach(curve, target):
    """Training seconds at the first checkpoint of ``curve`` (a list of {"epoch",
    "train_seconds", "test_accuracy"} in training order) whose test accuracy is at least
    ``target``; None if none is. Checkpoints are 1/8 epoch apart: the time is an upper bound
    within that grain."""
    for point in curve:
        if point["test_accuracy"] >= target:
            return point
    return None


def summarize(data):
    """Per system: medians over its runs; for each peer, nn's time to reach its median
    accuracy; and the issue's criterion."""
    ok = [r for r in data.get("runs", []) if "train_seconds" in r]
    out = {}
    for name in SYSTEMS:
        mine = [r for r in ok if r["name"] == name]
        if not mine:
            continue
        out[name] = {"runs": len(mine),
                     "train": stats(r["train_seconds"] for r in mine),
                     "test_accuracy": stats(r["test_accuracy"] for r in mine),
                     "test_seconds": stats(r["test_seconds"] for r in mine),
                     "other_cpu": statistics.median(r["foreign_cpu_share"] for r in mine),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in mine)}
        if name == NN:
            out[name]["hash"] = stats(r["hash_seconds"] for r in mine)
    nn_runs = [r for r in ok if r["name"] == NN]
    for name in PEERS:
        if name not in out or not nn_runs:
            continue
        target = out[name]["test_accuracy"]["median"]
        points = [time_to_reach(r["curve"], target) for r in nn_runs]
        reached = [p for p in points if p is not None]
        reach = {"target": target, "runs_reached": len(reached), "runs": len(points)}
        if len(reached) == len(points):  # a median only when every run got there
            reach["train_seconds"] = statistics.median(p["train_seconds"] for p in reached)
            reach["epoch"] = statistics.median(p["epoch"] for p in reached)
            reach["with_hashing"] = statistics.median(
                r["hash_seconds"] + p["train_seconds"] for r, p in zip(nn_runs, reached))
            reach["peer_train_seconds"] = out[name]["train"]["median"]
            reach["faster"] = reach["train_seconds"] < reach["peer_train_seconds"]
            reach["faster_with_hashing"] = reach["with_hashing"] < reach["peer_train_seconds"]
        out[name]["nn_reach"] = reach
    if NN in out and any(p in out for p in PEERS):
        nn_acc = out[NN]["test_accuracy"]["median"]
        peers = [p for p in PEERS if p in out]
        out["criterion"] = {
            "peers": peers,
            "more_accurate": all(nn_acc > out[p]["test_accuracy"]["median"] for p in peers),
            "reaches_faster": all(out[p]["nn_reach"].get("faster", False) for p in peers),
            "reaches_faster_with_hashing": all(
                out[p]["nn_reach"].get("faster_with_hashing", False) for p in peers),
            "slower_with_hashing": [p for p in peers
                                    if not out[p]["nn_reach"].get("faster_with_hashing")],
            "nn_accuracy": nn_acc,
            "best_peer_accuracy": max(out[p]["test_accuracy"]["median"] for p in peers)}
        c = out["criterion"]
        c["pass"] = c["more_accurate"] and c["reaches_faster"]
    return out


def ngrams_markdown(data):
    head = ("## Hashed n-grams: nn against fastText and Vowpal Wabbit\n\n"
            "The same 25,000 training and 25,000 test reviews for every system: nn hashes "
            "the token ids of TOKENS.npz; fastText and VW read them as Keras's words (start "
            "and unknown tokens dropped) from text files written once "
            "(`benchmarks.ngram_text`, the training file shuffled: fastText does not "
            "shuffle). ")
    if data.get("error"):
        return head + f"\n\nNot measured: {data['error']}.\n"
    s = summarize(data)
    head += (f"{data['reps']} round(s), each system once per round in its own process, the "
             f"order rotating; {data['threads']} thread(s); figures are medians over rounds "
             "(nn's seeds 1-3 with the default --seed). **Train s**: nn, its `fit` call "
             "(2 epochs) from the hashed, NB-weighted features, with test-set scorings every "
             "1/8 epoch taken out of the clock; fastText, `train_supervised` (reading the "
             "file, the dictionary, the epochs); VW, the training run (parsing and hashing "
             "the file, every pass, writing the model). **nn reaches it after**: nn's "
             "training seconds at the first 1/8-epoch checkpoint whose test accuracy is at "
             "least the peer's (median over nn's runs); \"+ hashing\" adds nn's hashing of "
             "train and test (hashed 1-3-grams, frequency order, NB weights), which the "
             "peers do inside their training time.\n\n")
    rows = ["| system | settings | train s (median) | min–max | test acc % | test s | "
            "nn reaches it after (training s) | + hashing | peer ÷ nn | other CPU |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    settings = {k: v["settings"] for k, v in data["systems"].items()}
    for name in SYSTEMS:
        v = s.get(name)
        if v is None:
            why = data.get("skipped", {}).get(name) or next(
                (r.get("error") for r in data["runs"] if r["name"] == name), "not run")
            rows.append(f"| {name} | {settings.get(name, '')} | {why} | | | | | | | |")
            continue
        t, acc = v["train"], v["test_accuracy"]
        reach, plus, ratio = "", "", ""
        if name == NN:
            reach = f"(hashing: {v['hash']['median']:.2f} s)"
        elif "nn_reach" in v:
            r = v["nn_reach"]
            if "train_seconds" in r:
                reach = f"{r['train_seconds']:.2f} s (epoch {r['epoch']:g})"
                plus = f"{r['with_hashing']:.2f} s"
                ratio = f"{t['median'] / r['train_seconds']:.1f}×"
            else:
                reach = f"not reached in {r['runs'] - r['runs_reached']} of {r['runs']} runs"
        rows.append(f"| {name} | {settings[name]} | {t['median']:.2f} | {t['min']:.2f}–"
                    f"{t['max']:.2f} | {100 * acc['median']:.2f} | "
                    f"{v['test_seconds']['median']:.2f} | {reach} | {plus} | {ratio} | "
                    f"{v['other_cpu']:.0%} |")
    text = head + "\n".join(rows) + "\n"
    for name, why in data.get("skipped", {}).items():
        text += f"\n{name} skipped: {why}."
    c = s.get("criterion")
    if c:
        verdict = "**pass**" if c["pass"] else "**FAIL**"
        text += (f"\n\nThe issue's criterion (nn more accurate than every peer row, and "
                 f"reaching each one's accuracy in less training time): {verdict} "
                 f"(more accurate: {'yes' if c['more_accurate'] else 'no'}, "
                 f"{100 * c['nn_accuracy']:.2f}% against at best "
                 f"{100 * c['best_peer_accuracy']:.2f}%; faster to each: "
                 f"{'yes' if c['reaches_faster'] else 'no'}; counting nn's hashing too: "
                 + ("yes" if c["reaches_faster_with_hashing"] else
                    "no, not before " + ", ".join(c["slower_with_hashing"]))
                 + "). A reach at epoch 0.125 is nn's first checkpoint: it may have got "
                 "there sooner.\n")
    else:
        text += "\n\nNo peer ran: nothing to compare.\n"
    return text
