"""benchmarks.sections.busy: the spinner keeps a core busy and dies when killed, the summary
pairs the rounds, and one real round runs nn quiet and beside the spinner."""

import argparse
import json
import time

import pytest

from benchmarks import data as bench_data
from benchmarks.sections import busy


def _record(condition, rnd, epochs, other=0.0):
    return {"condition": condition, "round": rnd, "epoch_seconds": [9.0, *epochs],
            "foreign_cpu_share": other}


def test_summary_pairs_each_round_and_skips_the_warm_up_epoch():
    data = {"threads": 2, "reps": 2, "runs": [
        _record("quiet", 0, [0.010, 0.012]), _record("busy", 0, [0.011, 0.011], 0.5),
        _record("busy", 1, [0.015, 0.015], 0.5), _record("quiet", 1, [0.010, 0.010])]}
    s = busy.summary(data)
    assert s["quiet"]["median"] == pytest.approx(0.010)
    assert s["busy"]["median"] == pytest.approx(0.013)
    assert s["paired_ratio"] == pytest.approx((0.011 / 0.011 + 0.015 / 0.010) / 2)
    assert s["other_cpu"] == {"quiet": 0.0, "busy": 0.5}
    text = busy.busy_markdown(data)
    assert "Busy ÷ quiet: **1.30×**" in text and "1.25× paired" in text


def test_a_condition_without_runs_is_reported_as_not_run():
    data = {"threads": 2, "reps": 1, "runs": [_record("quiet", 0, [0.01]),
                                              {"condition": "busy", "round": 0,
                                               "error": "exit code 1", "foreign_cpu_share": 0}]}
    text = busy.busy_markdown(data)
    assert "not run" in text and "Busy ÷ quiet" not in text


def test_the_spinner_uses_a_cpu_until_killed():
    spinner = busy.spin()
    try:
        time.sleep(0.5)
        with open(f"/proc/{spinner.pid}/stat") as f:
            user_ticks = int(f.read().rsplit(")", 1)[1].split()[11])
        assert user_ticks > 10  # > 0.1 s of CPU in 0.5 s
    finally:
        spinner.kill()
    assert spinner.wait(10) != 0


def test_one_round_runs_nn_quiet_and_busy(tmp_path):
    path = tmp_path / "DATA.npz"
    # nn_run validates on the first 10,000 training rows and trains on the rest
    bench_data.save(path, bench_data.synthetic(n_train=11000, n_test=1000, seed=0))
    args = argparse.Namespace(busy_reps=1, epochs=2, seed=0, threads=2, idle_threshold=1.0,
                              idle_wait=0, timeout=600, retries=0, busy_retry=1.0)
    ctx = {"args": args, "data_path": path, "previous_sections": {}}
    text, data = busy.busy_section(ctx)
    assert [r["condition"] for r in data["runs"]] == ["quiet", "busy"]
    errors = [r for r in data["runs"] if "error" in r]
    assert not errors, errors[0].get("stderr")
    assert data["runs"][1]["foreign_cpu_share"] > 0.2  # the spinner was there
    assert "Busy ÷ quiet" in text
    json.dumps(data)
    ctx["previous_sections"] = {"busy": data}  # redrawn without measuring
    assert busy.busy_section(ctx)[0] == text


def test_checks_row_compares_busy_with_quiet():
    from benchmarks.sections import checks

    data = {"threads": 2, "reps": 1, "runs": [_record("quiet", 0, [0.010]),
                                              _record("busy", 0, [0.0105], 0.5)]}
    ctx = {"summary": {}, "runs": [], "args": argparse.Namespace(threads=2),
           "sections": {"busy": ("", data)}}

    def busy_row():
        return next(r for r in checks.compute_checks(ctx, {}, {})
                    if r["target"].startswith("nn's epoch beside a process spinning"))

    row = busy_row()
    assert row["pass"] is True and row["measured"].startswith("1.05×")
    data["runs"][1] = _record("busy", 0, [0.012], 0.5)
    assert busy_row()["pass"] is False
    ctx["sections"] = {}
    assert busy_row()["pass"] is None
