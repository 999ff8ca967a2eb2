"""benchmarks.sections.busy: the spinner keeps a core busy and dies when killed, the summary
pairs the rounds (busy ÷ serial, serial ÷ quiet), the order rotates, old results without the
serial condition are redrawn, and one real round runs nn serial, on both cores and beside the
spinner."""

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
        _record("serial", 0, [0.020, 0.020]), _record("quiet", 0, [0.010, 0.012]),
        _record("busy", 0, [0.021, 0.021], 0.5),
        _record("quiet", 1, [0.010, 0.010]), _record("busy", 1, [0.025, 0.025], 0.5),
        _record("serial", 1, [0.020, 0.020])]}
    s = busy.summary(data)
    assert s["serial"]["median"] == pytest.approx(0.020)
    assert s["quiet"]["median"] == pytest.approx(0.010)
    assert s["busy"]["median"] == pytest.approx(0.023)
    assert s["busy_vs_serial"] == pytest.approx(0.023 / 0.020)
    assert s["paired_busy_vs_serial"] == pytest.approx((0.021 / 0.020 + 0.025 / 0.020) / 2)
    assert s["serial_vs_quiet"] == pytest.approx(2.0)
    assert s["paired_serial_vs_quiet"] == pytest.approx((0.020 / 0.011 + 0.020 / 0.010) / 2)
    assert s["other_cpu"] == {"serial": 0.0, "quiet": 0.0, "busy": 0.5}
    text = busy.busy_markdown(data)
    assert "Busy ÷ serial: **1.15×**" in text and "1.15× paired" in text
    assert "the issue asks ≤ 1.10×: FAIL" in text
    assert "the gain from the second core: **2.00×**" in text and "1.91× paired" in text
    assert "| serial | quiet | 1 | 0.0200 |" in text
    assert "| busy | a spinning process on one core | 2 | 0.0230 |" in text


def test_the_order_rotates_each_round():
    assert [busy.order(r) for r in range(4)] == [
        ("serial", "quiet", "busy"), ("quiet", "busy", "serial"),
        ("busy", "serial", "quiet"), ("serial", "quiet", "busy")]


def test_a_condition_without_runs_is_reported_as_not_run():
    data = {"threads": 2, "reps": 1, "runs": [_record("quiet", 0, [0.01]),
                                              _record("serial", 0, [0.02]),
                                              {"condition": "busy", "round": 0,
                                               "error": "exit code 1", "foreign_cpu_share": 0}]}
    text = busy.busy_markdown(data)
    assert "| busy | a spinning process on one core | 2 | not run |" in text
    assert "Busy ÷ serial: not measured" in text
    assert "the gain from the second core: **2.00×**" in text


def test_results_saved_before_the_serial_condition_are_redrawn():
    data = {"threads": 2, "reps": 1, "runs": [_record("quiet", 0, [0.010]),
                                              _record("busy", 0, [0.011], 0.5)]}
    s = busy.summary(data)
    assert s["serial"] is None and s["busy_vs_serial"] is None
    assert s["paired_serial_vs_quiet"] is None
    text = busy.busy_markdown(data)
    assert "| serial | quiet | 1 | not run |" in text
    assert "Busy ÷ serial: not measured" in text
    assert "the gain from the second core: not measured" in text


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


def test_one_round_runs_nn_serial_quiet_and_busy(tmp_path):
    path = tmp_path / "DATA.npz"
    # nn_run validates on the first 10,000 training rows and trains on the rest
    bench_data.save(path, bench_data.synthetic(n_train=11000, n_test=1000, seed=0))
    args = argparse.Namespace(busy_reps=1, epochs=2, seed=0, threads=2, idle_threshold=1.0,
                              idle_wait=0, timeout=600, retries=0, busy_retry=1.0)
    ctx = {"args": args, "data_path": path, "previous_sections": {}}
    text, data = busy.busy_section(ctx)
    assert [r["condition"] for r in data["runs"]] == ["serial", "quiet", "busy"]
    assert [r["threads"] for r in data["runs"]] == [1, 2, 2]
    errors = [r for r in data["runs"] if "error" in r]
    assert not errors, errors[0].get("stderr")
    assert data["runs"][2]["foreign_cpu_share"] > 0.2  # the spinner was there
    assert "Busy ÷ serial: **" in text and "the gain from the second core: **" in text
    json.dumps(data)
    ctx["previous_sections"] = {"busy": data}  # redrawn without measuring
    assert busy.busy_section(ctx)[0] == text


def test_checks_rows_compare_busy_with_serial_and_state_the_gain():
    from benchmarks.sections import checks

    data = {"threads": 2, "reps": 1, "runs": [_record("serial", 0, [0.010]),
                                              _record("quiet", 0, [0.006]),
                                              _record("busy", 0, [0.0105], 0.5)]}
    ctx = {"summary": {}, "runs": [], "args": argparse.Namespace(threads=2),
           "sections": {"busy": ("", data)}}

    def rows():
        found = [r for r in checks.compute_checks(ctx, {}, {})
                 if r["target"].startswith(("nn's epoch beside a process spinning",
                                            "on the quiet machine nn uses both cores"))]
        assert len(found) == 2
        return found

    busy_row, gain_row = rows()
    assert "serial epoch" in busy_row["target"]
    assert busy_row["pass"] is True and busy_row["measured"].startswith("1.05×")
    assert gain_row["pass"] is True and gain_row["measured"].startswith("1.67×")
    data["runs"][2] = _record("busy", 0, [0.012], 0.5)
    data["runs"][1] = _record("quiet", 0, [0.011])
    busy_row, gain_row = rows()
    assert busy_row["pass"] is False and gain_row["pass"] is False
    data["runs"] = data["runs"][1:]  # saved before the serial condition: not measured
    assert [r["pass"] for r in rows()] == [None, None]
    ctx["sections"] = {}
    assert [r["pass"] for r in rows()] == [None, None]
