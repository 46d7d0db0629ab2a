"""--out naming an existing file is refused by every command line, saying it is a file, before any work."""

from __future__ import annotations

import pytest

from experiments.harness import runner
from experiments.harness.result import cli
from jaxdl import distributed


def _never(result, fast):  # pragma: no cover - must not run
    pytest.fail("the experiment ran")


def test_out_naming_a_file_is_refused_by_the_runner_and_the_module_command_line(tmp_path, capsys, monkeypatch):
    existing = tmp_path / "notes.txt"
    existing.write_text("")
    with pytest.raises(SystemExit) as exited:
        cli("9.1", "Never", _never, argv=["--out", str(existing)])
    assert exited.value.code == 2 and "notes.txt is a file, not a directory" in capsys.readouterr().err
    monkeypatch.setattr(runner, "discover", lambda: [])
    with pytest.raises(SystemExit) as exited:
        runner.main(["all", "--out", str(existing)])
    assert exited.value.code == 2 and "notes.txt is a file, not a directory" in capsys.readouterr().err


def test_out_naming_a_file_is_refused_by_the_launcher_before_any_process(tmp_path, capsys, monkeypatch):
    existing = tmp_path / "notes.txt"
    existing.write_text("")
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("launched"))
    assert distributed.main(["--out", str(existing)]) == 1
    assert "notes.txt is a file, not a directory" in capsys.readouterr().err
