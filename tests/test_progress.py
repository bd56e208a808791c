"""Progress off a terminal: plain lines on stderr at an interval; ``--quiet``: nothing."""

from __future__ import annotations

import pytest

from rdlab.cli import _output, main

REC = ["rec", "bench", "--kl", "1,2", "--dims", "1", "--samplers", "pfr", "--runs", "2"]


@pytest.fixture
def every_update(monkeypatch):
    """A progress line on every update (the interval is 30 s by default)."""
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)


def _progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("rdlab: ") and "/" in line]


def test_loop_prints_plain_lines_when_stderr_is_not_a_terminal(every_update, capsys):
    assert list(_output.progress(range(3), "stage")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("rdlab: stage: 1/3 (33%), 0:00 elapsed, about 0:00 left")
    assert lines[-1].startswith("rdlab: stage: 3/3 (100%)")
    assert len(lines) == 3


def test_progress_bar_reports_done_total_and_keeps_count(every_update, capsys):
    bar = _output.progress_bar(10, "fit")
    bar.update(4)
    bar.update(6 - bar.n)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "rdlab: fit: 4/10 (40%)",
        "rdlab: fit: 6/10 (60%)",
    ]
    assert bar.n == 6


def test_default_interval_keeps_short_runs_silent(capsys):
    assert _output.PROGRESS_INTERVAL == 30.0
    bar = _output.progress_bar(5, "fast")
    for _ in range(5):
        bar.update(1)
    bar.close()
    assert capsys.readouterr().err == ""


def test_a_final_line_after_earlier_lines(monkeypatch, capsys):
    bar = _output.progress_bar(3, "slow")
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)
    bar.update(1)
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 3600.0)
    bar.update(2)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "rdlab: slow: 1/3 (33%)",
        "rdlab: slow: 3/3 (100%)",
    ]


def test_unknown_total(every_update, capsys):
    bar = _output.progress_bar(None, "steps")
    bar.update(2)
    assert capsys.readouterr().err.startswith("rdlab: steps: 2, 0:00 elapsed")


def test_a_command_prints_progress_lines(every_update, capsys):
    assert main(REC) == 0
    lines = _progress_lines(capsys.readouterr().err)
    assert lines and lines[-1].startswith("rdlab: rec bench: 2/2 (100%)")


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_silences_progress(every_update, capsys, where):
    argv = ["--quiet", *REC] if where == "before" else [*REC, "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "pfr" in captured.out  # the report itself still comes
    assert not _output.QUIET  # only for that run


def test_quiet_progress_bar_is_silent_but_counts(every_update, monkeypatch, capsys):
    monkeypatch.setattr(_output, "QUIET", True)
    bar = _output.progress_bar(2, "x")
    bar.update(2)
    bar.close()
    assert bar.n == 2
    assert capsys.readouterr().err == ""
