"""The experiment runner: discovery, selection by id, the report, and its exit status."""

from __future__ import annotations


import matplotlib.pyplot as plt
import pytest

import experiments.harness.runner as runner
from fake_experiments import fake_experiment as _fake


def _passing(result, fast):
    result.compare("two", 1 + 1, 2)
    result.text("| a | b |\n|---|---|\n| 1 | 2 |")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    result.save_figure(fig, "line.png")


def _failing(result, fast):
    result.compare("three", 1 + 1, 3)


def _raising(result, fast):
    raise RuntimeError("broken on purpose")


def test_discovery_finds_modules_in_book_order_with_exercises_after_their_section():
    found = runner.discover()
    ids = [e.id for e in found]
    assert ids == sorted(ids, key=lambda i: (tuple(int(p) for p in i.split("-")[0].split(".")), "-" in i))
    for e in found:
        assert callable(e.module.run) and e.title
    if "2.5-exercises" in ids:
        assert ids.index("2.5-exercises") == ids.index("2.5") + 1


def test_unknown_id_exits_with_the_list_of_ids():
    with pytest.raises(SystemExit, match=r"unknown experiment\(s\) 9\.9; choose from: .*2\.1"):
        runner.select(runner.discover(), ["9.9"])


def test_list_prints_every_experiment(capsys):
    assert runner.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(e.id in out for e in runner.discover())


def test_report_counts_comparisons_and_links_figures(tmp_path, monkeypatch):
    fakes = [_fake("9.1", _passing, "Passing"), _fake("9.2", _failing, "Failing"), _fake("9.3", _raising, "Raising")]
    monkeypatch.setattr(runner, "discover", lambda: fakes)
    status = runner.main(["all", "--fast", "--out", str(tmp_path)])
    assert status == 1  # a failed comparison and an exception both make the run fail
    report = (tmp_path / "report.md").read_text()
    assert "**1 of 2 comparisons with the stored PyTorch references passed**" in report
    assert "experiments that raised: 9.3" in report and "broken on purpose" in report
    assert "![line](9.1/line.png)" in report and (tmp_path / "9.1" / "line.png").is_file()
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and '<img alt="line" src="9.1/line.png"' in html


def test_run_of_passing_experiments_exits_zero(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _passing, "Passing")])
    assert runner.main(["run", "9.1", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "report.md").exists()  # only `all` writes the report


def test_module_command_line_exits_with_the_comparisons_verdict(tmp_path):
    from experiments.harness.result import cli

    with pytest.raises(SystemExit) as passed:
        cli("9.1", "Passing", _passing, argv=["--fast", "--out", str(tmp_path / "a")])
    assert passed.value.code == 0 and (tmp_path / "a" / "line.png").is_file()
    with pytest.raises(SystemExit) as failed:
        cli("9.2", "Failing", _failing, argv=["--out", str(tmp_path / "b")])
    assert failed.value.code == 1
