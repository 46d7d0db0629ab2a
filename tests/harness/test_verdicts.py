"""An experiment passes only when every comparison row passes: Result.passed, the runner's exit status
(`python -m experiments run/all`) and each module's own exit status, with mixed and raising experiments."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import experiments.harness.runner as runner
from fake_experiments import fake_experiment as _fake
from experiments.harness.result import Result, cli

ROOT = Path(__file__).resolve().parents[2]


def _all_pass(result, fast):
    result.compare("one", 1.0, 1.0)
    result.compare("two", 2.0, 2.0 + 1e-9, rtol=1e-6)
    result.within("in band", 0.5, 0.4, 0.6)


def _one_of_two_fails(result, fast):
    result.compare("passes", 1.0, 1.0)
    result.compare("fails", 2.0, 3.0)


def _first_fails(result, fast):
    result.within("fails", 0.9, 0.4, 0.6)
    result.compare("passes", 1.0, 1.0)


def _eight_of_sixteen_fail(result, fast):
    for i in range(16):
        result.compare(f"row {i}", float(i), float(i) + (i % 2))


def _raises(result, fast):
    result.compare("passes before the error", 1.0, 1.0)
    raise RuntimeError("broken on purpose")


def _result(body) -> Result:
    result = Result("9.9", "fake", Path("."))
    body(result, True)
    return result


@pytest.mark.parametrize("body, passed", [(_all_pass, True), (_one_of_two_fails, False), (_first_fails, False),
                                          (_eight_of_sixteen_fail, False)])
def test_result_passes_only_when_every_row_passes(body, passed):
    assert _result(body).passed is passed


def _compares_nothing(result, fast):
    result.text("no numbers")


def test_an_experiment_without_comparisons_fails(tmp_path, monkeypatch):
    assert _result(_compares_nothing).passed is False
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _compares_nothing)])
    assert runner.main(["run", "9.1", "--out", str(tmp_path)]) == 1


def test_rows_are_kept_in_order_with_their_verdicts():
    result = _result(_one_of_two_fails)
    assert [(c.quantity, c.passed) for c in result.comparisons] == [("passes", True), ("fails", False)]


@pytest.mark.parametrize("command", ["run", "all"])
@pytest.mark.parametrize("body, status", [(_all_pass, 0), (_one_of_two_fails, 1), (_first_fails, 1),
                                          (_eight_of_sixteen_fail, 1), (_raises, 1)])
def test_runner_exit_status_follows_every_row(command, body, status, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _all_pass), _fake("9.2", body)])
    args = ["run", "9.1", "9.2"] if command == "run" else ["all"]
    assert runner.main([*args, "--fast", "--out", str(tmp_path)]) == status


def test_runner_names_the_failing_and_raising_experiments(tmp_path, monkeypatch, capsys):
    fakes = [_fake("9.1", _all_pass), _fake("9.2", _one_of_two_fails), _fake("9.3", _raises)]
    monkeypatch.setattr(runner, "discover", lambda: fakes)
    assert runner.main(["run", "9.1", "9.2", "9.3", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "failing: 9.2, 9.3" in out


def test_all_reports_each_experiment_status(tmp_path, monkeypatch):
    fakes = [_fake("9.1", _all_pass), _fake("9.2", _one_of_two_fails), _fake("9.3", _raises)]
    monkeypatch.setattr(runner, "discover", lambda: fakes)
    assert runner.main(["all", "--out", str(tmp_path)]) == 1
    report = (tmp_path / "report.md").read_text()
    assert "| 3/3 |" in report and "| 1/2 |" in report
    statuses = [line.rsplit("|", 2)[-2].strip() for line in report.splitlines() if line.startswith("| [9.")]
    assert statuses == ["pass", "FAIL", "ERROR"]


@pytest.mark.parametrize("body, code", [(_all_pass, 0), (_one_of_two_fails, 1), (_first_fails, 1),
                                        (_eight_of_sixteen_fail, 1)])
def test_module_cli_exit_status_follows_every_row(body, code, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli("9.9", "fake", body, argv=["--fast", "--out", str(tmp_path)])
    assert exit_info.value.code == code


def test_module_cli_lets_an_error_through():
    with pytest.raises(RuntimeError, match="broken on purpose"):
        cli("9.9", "fake", _raises, argv=["--fast"])


def test_module_cli_help_names_the_section_and_what_each_option_does(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_info:
        cli("9.9", "fake things", _all_pass, argv=["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0 and "d2l 9.9: fake things" in text
    assert "--fast a quick run on less data (used by the tests)" in text
    assert "--out OUT where to save figures (default runs/<module>)" in text


@pytest.mark.parametrize("module, argv0, folder", [("experiments.ch9_9_fake", "", "ch9_9_fake"),
                                                   ("__main__", "/somewhere/ch9_9_script.py", "ch9_9_script")])
def test_module_cli_runs_the_body_with_its_section_title_and_flags_into_runs_module(
        tmp_path, monkeypatch, module, argv0, folder):
    seen = []

    def body(result, fast):
        seen.append((result.section, result.title, fast, result.out_dir))
        result.compare("passes", 1, 1)

    body.__module__ = module
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [argv0])
    for argv, fast in (([], False), (["--fast"], True)):
        with pytest.raises(SystemExit) as exit_info:
            cli("9.9", "fake", body, argv=argv)
        assert exit_info.value.code == 0 and seen[-1] == ("9.9", "fake", fast, Path("runs") / folder)
    assert (tmp_path / "runs" / folder).is_dir()


def test_module_cli_interrupted_exits_130_saying_where_the_figures_are(tmp_path, capsys):
    def interrupted(result, fast):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        cli("9.9", "fake", interrupted, argv=["--out", str(tmp_path)])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == f"interrupted; 9.9 did not finish (figures so far are in {tmp_path})\n"


MODULE = """
from experiments.harness.result import cli

def run(result, fast):
    result.compare("passes", 1.0, 1.0)
    {second}

if __name__ == "__main__":
    cli("9.9", "fake", run)
"""


@pytest.mark.parametrize("second, code", [("result.compare('also passes', 2, 2)", 0),
                                          ("result.compare('fails', 2, 3)", 1),
                                          ("raise RuntimeError('broken on purpose')", 1)],
                         ids=["passing", "one-failing-row", "raising"])
def test_a_module_run_as_a_script_exits_with_its_verdict(second, code, tmp_path):
    script = tmp_path / "fake_experiment.py"
    script.write_text(textwrap.dedent(MODULE.format(second=second)))
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "out")], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert ("1/2 comparisons passed" in done.stdout) == (code == 1 and "fails" in second)


def test_text_blocks_are_kept_in_order_and_printed_as_they_come(tmp_path, capsys):
    result = Result("9.9", "t", tmp_path)
    result.text("first | block")
    result.text("second")
    assert result.blocks == ["first | block", "second"] and capsys.readouterr().out == "first | block\nsecond\n"


def test_a_saved_figure_is_listed_announced_and_closed_and_no_other(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    result = Result("9.9", "t", tmp_path)
    first, second = plt.figure(), plt.figure()  # the second is pyplot's current figure
    path = result.save_figure(first, "first.png")
    assert path == tmp_path / "first.png" and path.read_bytes().startswith(b"\x89PNG") and result.figures == [path]
    assert capsys.readouterr().out == f"saved figure {path}\n"
    assert plt.get_fignums() == [second.number]
    plt.close("all")


def test_execute_announces_the_section_prints_the_table_and_counts_what_passed(tmp_path, capsys):
    from experiments.harness.result import execute
    from experiments.harness import references

    seen = []

    def body(result, fast):
        seen.append(fast)
        result.compare("passes", 1, 1)
        result.compare("fails", 1, 2)

    result = execute("9.9", "fake things", body, tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert seen == [False] and out[0] == "== 9.9 fake things"
    assert out[1:-1] == references.format_table(result.comparisons).splitlines()
    assert re.fullmatch(r"9\.9: 1/2 comparisons passed in \d+\.\d s", out[-1])
    assert 0 <= result.seconds < 60 and out[-1].endswith(f"in {result.seconds:.1f} s")
    execute("9.9", "fake things", body, tmp_path, fast=True)
    assert seen == [False, True]


def test_a_mean_band_row_is_decided_by_the_mean_and_counts_the_runs_inside(tmp_path):
    result = Result("9.9", "t", tmp_path)
    row = result.within_mean("q", [0.0, 1.0, 1.5, 4.0], 0.5, 2.0, reference="3 seeds")  # mean 1.625
    assert row.quantity == "q" and row.jaxdl == result.within("q", 1.625, 0.5, 2.0).jaxdl
    assert row.passed and row.reference.endswith("3 seeds; keys inside alone: 2/4")
    assert not result.within_mean("q", [0.0, 0.1, 0.2, 1.0], 0.5, 2.0, reference="r").passed  # mean 0.325
    assert result.within_mean("q", [0.5, 2.0], 0.5, 2.0, reference="r").reference == "r; keys inside alone: 2/2"  # edges count
