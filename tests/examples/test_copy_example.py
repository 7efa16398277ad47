"""`dnanet.examples.copy_example` (`dnanet example`): the bundled files copied as they are, other
files left alone, files of the same names refused unless overwritten, nothing copied then."""

from __future__ import annotations

import pytest

from dnanet.errors import DnanetError
from dnanet.examples import copy_example, example_path

NAMES = ["bound.fa", "background.fa", "heldout_bound.fa", "heldout_background.fa", "SOURCE.txt"]


def test_the_bundled_files_are_copied_and_other_files_left_alone(tmp_path):
    (tmp_path / "mine.txt").write_text("mine\n")
    written = copy_example(tmp_path)
    assert [path.name for path in written] == NAMES
    for path in written:
        assert path.parent == tmp_path and path.read_bytes() == example_path(path.name).read_bytes()
    assert (tmp_path / "mine.txt").read_text() == "mine\n"


def test_a_file_of_the_same_name_is_refused_before_any_copy_unless_overwritten(tmp_path):
    (tmp_path / "SOURCE.txt").write_text("old\n")
    with pytest.raises(DnanetError, match="SOURCE.txt: already exists"):
        copy_example(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["SOURCE.txt"]  # nothing copied
    copy_example(tmp_path, overwrite=True)
    assert (tmp_path / "SOURCE.txt").read_bytes() == example_path("SOURCE.txt").read_bytes()
