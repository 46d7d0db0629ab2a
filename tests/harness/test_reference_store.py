"""The committed reference files: well-formed, made by the generator, one for every experimented section."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from experiments.harness.runner import discover
from experiments.harness import references
from experiments.harness.references import REFERENCE_ROOT, ReferenceError

FILES = references.files()


def test_there_are_reference_files_for_every_chapter():
    chapters = {re.match(r"ch(\d+)_", p.name)[1] for p in FILES}
    assert chapters >= {"2", "3", "4", "5"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_reference_file_is_well_formed(path):
    payload = json.loads(path.read_text())
    assert set(payload) == {"meta", "data"}
    meta = payload["meta"]
    assert meta["torch_version"].startswith("2.13.0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", meta["date"])
    assert meta["command"].startswith("python -m experiments.reference")
    assert (REFERENCE_ROOT.parent / meta["generator"]).is_file()
    assert isinstance(payload["data"], dict) and payload["data"]
    assert references.load(path.stem) == payload["data"]
    assert path.stat().st_size < 1_000_000


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_reference_file_lies_beside_its_sections_generator(path):
    generator = json.loads(path.read_text())["meta"]["generator"]
    section = re.match(r"(ch\d+_\d+)_", path.name)[1]
    assert (REFERENCE_ROOT.parent / generator).parent == path.parent
    assert generator.rsplit("/", 1)[1].startswith(section + "_") and generator.endswith("_torch.py")


@pytest.mark.parametrize("experiment", discover(), ids=lambda e: e.id)
def test_every_experimented_section_has_its_reference(experiment):
    major, minor = experiment.module.SECTION.split(".")
    # 13.5 replays 5.2's PyTorch runs on several devices: a section may reuse another's file by naming it
    reused = getattr(experiment.module, "REFERENCE", None) in {p.stem for p in FILES}
    assert any(p.name.startswith(f"ch{major}_{minor}_") for p in FILES) or reused, (
        f"no reference file ch{major}_{minor}_*.json for experiment {experiment.id}"
    )


def test_missing_and_malformed_files_are_explained(tmp_path):
    with pytest.raises(ReferenceError) as err:
        references.load("nothing_here", tmp_path)
    assert str(err.value) == (f"no reference file {tmp_path / 'nothing_here.json'}; regenerate the references with "
                              "`python -m experiments.reference` (`make references` installs torch 2.13.0, CPU build)")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ReferenceError, match="not valid JSON"):
        references.load("broken", tmp_path)
    (tmp_path / "partial.json").write_text('{"data": {}}')
    with pytest.raises(ReferenceError, match="lacks its 'meta' or 'data'"):
        references.load("partial", tmp_path)


def test_saving_unchanged_data_keeps_the_file_and_its_date(tmp_path):
    path = tmp_path / "r.json"
    meta = {"torch_version": "2.13.0", "command": "python -m experiments.reference x"}
    assert references.save(path, {"x": np.float32(0.1), "timing": {"s": 1.0}}, meta)
    before = path.read_bytes()
    assert not references.save(path, {"x": np.float32(0.1), "timing": {"s": 2.0}}, {**meta, "date": "2099-01-01"})
    assert path.read_bytes() == before
    assert references.save(path, {"x": np.float32(0.2)}, meta)
    assert references.load("r", tmp_path)["x"] == float(np.float32(0.2))  # float32 stored exactly


def test_compare_exact_relative_and_shape_mismatch():
    assert references.compare("ints", [1, 2], [1, 2]).passed
    assert not references.compare("ints", [1, 2], [1, 3]).passed
    assert references.compare("floats", 1.0 + 1e-7, 1.0, rtol=1e-6).passed
    assert not references.compare("floats", 1.0 + 1e-5, 1.0, rtol=1e-6).passed
    assert not references.compare("shape", np.zeros(3), np.zeros(4)).passed
    assert references.compare("nan", [np.nan, np.inf], [np.nan, np.inf]).passed
    assert not references.compare("nan", [np.nan], [1.0], atol=1e9).passed
    assert references.within("band", 0.83, 0.82, 0.84).passed and not references.within("band", 0.85, 0.82, 0.84).passed


def test_tables_line_up_their_columns_and_escape_bars_in_markdown():
    rows = [references.compare("a|b", 1, 1), references.within("band", 0.85, 0.82, 0.84)]
    a, band = rows
    plain = references.format_table(rows).splitlines()
    assert plain[0].split() == ["quantity", "jaxdl", "PyTorch", "difference", "tolerance", "result"]
    assert plain[1].replace(" ", "").strip("-") == "" and len(plain) == 4
    widths = [len(cell) for cell in plain[1].split("  ")]
    for line, cells in zip(plain[2:], [(a.quantity, a.jaxdl, a.reference, f"{a.difference:.3g}", a.tolerance, "pass"),
                                      (band.quantity, band.jaxdl, band.reference, f"{band.difference:.3g}",
                                       band.tolerance, "FAIL")]):
        assert line == "  ".join(cell.ljust(w) for cell, w in zip(cells, widths))
    markdown = references.format_table(rows, markdown=True).splitlines()
    assert markdown[:2] == ["| quantity | jaxdl | PyTorch | difference | tolerance | result |", "|---|---|---|---|---|---|"]
    assert markdown[2] == f"| a\\|b | {a.jaxdl} | {a.reference} | {a.difference:.3g} | {a.tolerance} | pass |"


def test_table_has_a_row_per_comparison_and_marks_failures():
    rows = [references.compare("a", 1, 1), references.compare("b", 1.0, 2.0)]
    text = references.format_table(rows)
    assert "FAIL" in text.splitlines()[-1] and "pass" in text.splitlines()[-2]
    assert references.format_table(rows, markdown=True).count("\n") == 3


def test_to_jsonable_turns_arrays_and_numpy_scalars_into_exact_python_values():
    import jax.numpy as jnp

    data = {1: (np.float32(0.1), [np.int64(3), "text", b"raw"]), "matrix": np.arange(4.0).reshape(2, 2),
            "jax": jnp.array([0.1, 2.0], jnp.float32), "zero-d": np.array(2.5), "plain": None}
    assert references.to_jsonable(data) == {
        "1": [float(np.float32(0.1)), [3, "text", b"raw"]], "matrix": [[0.0, 1.0], [2.0, 3.0]],
        "jax": [float(np.float32(0.1)), 2.0], "zero-d": 2.5, "plain": None}
    assert type(references.to_jsonable(np.int64(3))) is int and type(references.to_jsonable(np.array([1]))) is list


def test_saved_meta_holds_todays_date_and_the_given_fields(tmp_path):
    import datetime

    path = tmp_path / "new" / "dirs" / "r.json"  # directories are made as needed
    assert references.save(path, {"x": [1]}, {"torch_version": "2.13.0", "seeds": np.arange(2)})
    assert json.loads(path.read_text())["meta"] == {"date": datetime.date.today().isoformat(),
                                                    "torch_version": "2.13.0", "seeds": [0, 1]}
    assert references.save(path, {"x": [1]}, {"date": "2001-02-03"}) and "2001-02-03" in path.read_text()


def test_volatile_fields_are_ignored_at_any_depth_and_a_broken_file_is_replaced(tmp_path):
    path = tmp_path / "r.json"
    runs = [{"timing": {"s": 1.0}, "loss": [0.5]}]
    assert references.save(path, {"runs": runs}, {})
    assert not references.save(path, {"runs": [{"timing": {"s": 9.0}, "loss": [0.5]}]}, {})
    assert references.save(path, {"runs": [{"timing": {"s": 1.0}, "loss": [0.25]}]}, {})
    assert references.load("r", tmp_path)["runs"][0]["loss"] == [0.25]
    path.write_text("{half a file")
    assert references.save(path, {"runs": runs}, {}) and references.load("r", tmp_path)["runs"] == runs
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left beside it


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_committed_files_are_byte_for_byte_what_save_writes(path, tmp_path):
    """One format for every reference file (one-space indent, sorted keys, a final newline), so a regenerated
    file differs from the committed one only where a number does."""
    payload = json.loads(path.read_text())
    assert references.save(tmp_path / path.name, payload["data"], payload["meta"])
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_nan_and_infinity_are_stored_and_read_back(tmp_path):
    assert references.save(tmp_path / "r.json", {"x": [float("nan"), float("inf"), -1.5]}, {})
    x = references.load("r", tmp_path)["x"]
    assert np.isnan(x[0]) and x[1:] == [float("inf"), -1.5]


@pytest.mark.parametrize("value, shown", [
    ("abc", "abc"), (list("abcde"), "['a', 'b', 'c', 'd', 'e']"), (0.1234567, "0.123457"), (3, "3"), (True, "True"), (np.array([[2.5]]), "2.5"),
    ([1.5, 2.0, 3.123456789, 4.0], "[1.5    , 2.     , 3.12346, 4.     ]"),  # up to 4 values, 5 digits
    (np.arange(5.0), "float64[5] |x|=5.47723"),  # more: dtype, shape and norm
    (np.full(300, 300, np.float16), "float16[300] |x|=5196.15"),  # the norm in float64 (float16 would overflow)
])
def test_values_are_shown_whole_when_small_and_by_their_norm_when_large(value, shown):
    assert references.compare("q", value, value).jaxdl == shown


@pytest.mark.parametrize("ours, theirs, row", [
    ("abc", "abc", ("abc", "abc", 0.0, "exact", True)),
    ("abc", "abd", ("abc", "abd", np.nan, "exact", False)),
    (1, "a", ("1", "a", np.nan, "exact", False)),  # a number against text is compared as text
    (np.zeros(3), np.zeros((3, 1)), ("shape [3]", "shape [3, 1]", np.nan, "same shape", False)),
    ([1.0, 2.0], [1.0, 2.5], ("[1., 2.]", "[1. , 2.5]", 0.5, "exact", False)),
])
def test_each_row_says_what_was_compared_how_far_apart_and_by_which_rule(ours, theirs, row):
    c = references.compare("q", ours, theirs)
    assert (c.quantity, c.jaxdl, c.reference, c.tolerance, c.passed) == ("q", *row[:2], *row[3:])
    assert c.difference == row[2] or (np.isnan(c.difference) and np.isnan(row[2]))


def test_the_generators_are_one_per_section_and_chosen_by_section_or_chapter():
    from experiments.harness import regenerate

    available = regenerate.generators()
    assert available["4.4"] == "experiments.ch4.ch4_4_softmax_regression_scratch_torch"
    assert list(regenerate.select(["4.4"], available)) == ["4.4"]
    assert list(regenerate.select(["ch2"], available)) == ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"]
    assert regenerate.select([], available) == available
    with pytest.raises(SystemExit, match="unknown section"):
        regenerate.select(["9.9"], available)


def test_seed_bands_are_generated_only_with_band_and_say_so_in_their_command(tmp_path, monkeypatch):
    pytest.importorskip("torch")  # the generator's command line needs torch
    import sys
    import types

    from experiments.harness import regenerate

    calls = []
    fake = types.ModuleType("fake_ch9_1_torch")
    fake.__file__ = str(tmp_path / "fake_ch9_1_torch.py")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(regenerate, "ROOT", tmp_path)
    fake.generate = lambda: calls.append("quick") or {"ch9_1_quick": {"x": 1}}
    fake.generate_band = lambda: calls.append("band") or {"ch9_1_band": {"y": 2}}
    monkeypatch.setitem(sys.modules, "fake_ch9_1_torch", fake)
    monkeypatch.setattr(regenerate, "generators", lambda: {"9.1": "fake_ch9_1_torch"})
    monkeypatch.setattr(references, "path_of", lambda name, directory=None: out / f"{name}.json")
    regenerate.main(["9.1"])
    assert calls == ["quick"] and sorted(p.name for p in out.iterdir()) == ["ch9_1_quick.json"]
    regenerate.main(["9.1", "--band"])
    assert calls == ["quick", "quick", "band"]
    meta = {p.stem: json.loads(p.read_text())["meta"]["command"] for p in out.iterdir()}
    assert meta == {"ch9_1_quick": "python -m experiments.reference 9.1",
                    "ch9_1_band": "python -m experiments.reference 9.1 --band"}
