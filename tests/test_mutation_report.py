"""tests/mutation_report.py: the score over jaxdl/, and which survivors count as explained."""

from __future__ import annotations

import json

import mutation_report


def _write_run(root, codes, equivalents):
    (root / "mutants" / "jaxdl").mkdir(parents=True)
    (root / "mutants" / "jaxdl" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    (root / "tests").mkdir()
    (root / "tests" / "mutation_equivalents.md").write_text(equivalents)


def _report(monkeypatch, tmp_path, capsys, codes, equivalents):
    _write_run(tmp_path, codes, equivalents)
    monkeypatch.setattr(mutation_report, "ROOT", tmp_path)
    monkeypatch.setattr(mutation_report, "EQUIVALENTS", tmp_path / "tests" / "mutation_equivalents.md")
    return mutation_report.main(), capsys.readouterr().out


def test_a_survivor_explained_as_equivalent_passes_at_ninety_percent(monkeypatch, tmp_path, capsys):
    codes = {f"jaxdl.m.x_f__mutmut_{i}": 1 for i in range(9)} | {"jaxdl.m.x_f__mutmut_9": 0}
    rc, out = _report(monkeypatch, tmp_path, capsys, codes, "- `jaxdl.m.x_f__mutmut_9`: the same value.\n")
    assert rc == 0 and "jaxdl/: 9 of 10 mutants killed (90.0%); 1 survivors explained" in out


def test_a_survivor_listed_as_killed_by_a_test_is_not_explained(monkeypatch, tmp_path, capsys):
    codes = {f"jaxdl.m.x_f__mutmut_{i}": 1 for i in range(19)} | {"jaxdl.m.x_f__mutmut_19": 0}
    rc, out = _report(monkeypatch, tmp_path, capsys, codes, "- `jaxdl.m.x_f__mutmut_19`: killed by test_x.py.\n")
    assert rc == 1 and "jaxdl.m.x_f__mutmut_19 (survived, listed as killed)" in out


def test_below_ninety_percent_or_not_run_fails_and_a_killed_listed_one_is_named(monkeypatch, tmp_path, capsys):
    codes = {"jaxdl.m.x_f__mutmut_1": 1, "jaxdl.m.x_f__mutmut_2": 0, "jaxdl.m.x_f__mutmut_3": None}
    rc, out = _report(monkeypatch, tmp_path, capsys, codes,
                      "- `jaxdl.m.x_f__mutmut_1`: killed by test_x.py.\n- `jaxdl.m.x_f__mutmut_2`: equivalent.\n")
    assert rc == 1 and "1 of 2 mutants killed (50.0%)" in out and "1 not run" in out
    assert "are killed now; take their lines out:\n  jaxdl.m.x_f__mutmut_1" in out


def test_a_line_naming_a_mutant_the_run_does_not_have_fails_and_is_named(monkeypatch, tmp_path, capsys):
    codes = {f"jaxdl.m.x_f__mutmut_{i}": 1 for i in range(10)}
    rc, out = _report(monkeypatch, tmp_path, capsys, codes, "- `jaxdl.m.x_f__mutmut_77`: the same value.\n")
    assert rc == 1 and "name mutants this run does not have" in out and "  jaxdl.m.x_f__mutmut_77" in out
