"""verify.run_checks streams its rows as they finish, each with its wall time."""

from __future__ import annotations

import re
import time

from lstmgen.spec import VARIANTS
from lstmgen.verify import (
    CheckResult,
    format_header,
    format_row,
    format_table,
    run_checks,
    table_widths,
)


def consume(rows, events):
    """Record each yielded row in ``events``, with the time it arrived."""
    for row in rows:
        events.append(("row", row.variant, row.check.split()[0], time.perf_counter()))
        assert row.seconds is not None and row.seconds > 0, row
        assert row.status == "PASS", row


def test_each_row_is_yielded_before_the_next_check_starts():
    events = []

    def progress(spec, check, k, n):
        events.append(("start", spec.name, check, time.perf_counter()))

    rows = run_checks([VARIANTS["lstm_hard_sigmoid"]], ["numpy"], workers=1, progress=progress)
    assert not events  # a generator: nothing runs before the first row is asked for
    consume(rows, events)
    checks = ["exact", "numeric", "keras-numpy"]
    want = [(kind, "lstm_hard_sigmoid", c) for c in checks for kind in ("start", "row")]
    assert [e[:3] for e in events] == want
    times = [e[3] for e in events]
    assert times == sorted(times)


def test_pool_rows_come_in_table_order_as_they_finish():
    specs = [VARIANTS["lstm_hard_sigmoid"], VARIANTS["lstm_hard_sigmoid_keras2"]]
    events = []

    def progress(spec, check, k, n):
        events.append(("start", spec.name, check, k, n))

    consume(run_checks(specs, [], workers=2, progress=progress), events)
    order = [(e[0], e[1], e[2]) for e in events]
    want = [
        (kind, spec.name, check)
        for spec in specs
        for check in ("exact", "numeric")
        for kind in ("start", "row")
    ]
    assert order == want
    assert [e[3:] for e in events if e[0] == "start"] == [(1, 2), (1, 2), (2, 2), (2, 2)]


def test_rows_show_their_time_and_status():
    passed = CheckResult("lstm", "exact (sympy.diff)", 1e-60, 1e-40, "PASS", seconds=12.345)
    failed = CheckResult("gru", "numeric (fd)", 0.5, 1e-7, "FAIL", seconds=0.04)
    not_run = CheckResult("gru", "keras-tf", None, 1e-10, "NOT RUN", "no TensorFlow")
    widths = table_widths(["lstm", "gru"])
    header = format_header(widths).splitlines()
    assert header[0].split() == ["variant", "check", "max", "error", "tolerance", "time", "status"]
    assert format_row(passed, widths).split()[-2:] == ["12.3s", "PASS"]
    assert format_row(failed, widths).split()[-2:] == ["0.0s", "FAIL"]
    assert re.search(r" 1e-10 +- +NOT RUN \(no TensorFlow\)$", format_row(not_run, widths))
    table = format_table([passed, failed, not_run]).splitlines()
    assert len(table) == 5 and table[0].split()[-2:] == ["time", "status"]
    # the rows line up with the header in the table, as when printed one by one
    assert table[2].index("12.3s") == table[0].index("time")
    line = format_row(passed, widths)
    assert line.index("12.3s") == header[0].index("time")


def test_jax_target_rows_check_the_custom_vjp_and_the_numpy_module(monkeypatch):
    from lstmgen import verify

    # The exact and numeric rows are the NumPy checks, tested above: stand-ins here.
    def stand_in(spec, *args):
        return CheckResult(spec.name, "stand-in", 0.0, 1.0, "PASS")

    monkeypatch.setattr(verify, "exact_check", stand_in)
    monkeypatch.setattr(verify, "numeric_check", stand_in)
    rows = list(run_checks([VARIANTS["gru"]], ["jax"], workers=1))
    assert [row.check.split()[0] for row in rows] == [
        "stand-in",
        "stand-in",
        "autodiff-jax",
        "numpy-jax",
    ]
    for row in rows[2:]:
        assert row.status == "PASS" and row.max_error <= row.tolerance == 1e-10, row
