"""`Rows` assembles per-batch outputs into one array, equal to concatenating them."""

from __future__ import annotations

import numpy as np
import pytest

from dnanet.inference.predict import Rows


@pytest.mark.parametrize("capacity", [0, 3, 100])
def test_rows_equal_the_concatenated_batches_in_order(capacity):
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(size, 2, 3)).astype(np.float32) for size in (5, 1, 17, 0, 9)]
    rows = Rows(capacity)
    assert rows.result() is None  # nothing yet: not an empty array of a guessed shape
    for batch in batches:
        rows.add(batch)
    found = rows.result()
    assert found.dtype == np.float32 and np.array_equal(found, np.concatenate(batches))
