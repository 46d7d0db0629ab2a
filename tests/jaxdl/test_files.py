"""jaxdl.files' checks say what is wrong with an output path before anything is written."""

from __future__ import annotations

import pytest

from jaxdl.files import OutputError, check_writable_dir, check_writable_file


def test_a_file_where_a_directory_should_be_says_it_is_a_file(tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("")
    with pytest.raises(OutputError, match=r"results.txt is a file, not a directory"):
        check_writable_dir(existing)
    with pytest.raises(OutputError, match=r"results.txt is a file, not a directory"):
        check_writable_dir(existing / "below")
    with pytest.raises(OutputError, match=r"results.txt is a file, not a directory"):
        check_writable_file(existing / "below" / "out.csv")
