"""`dnanet.bottleneck.pipeline.run_experiment`, the library call behind `dnanet bottleneck`: the
grid trained and written into one folder, the outcome equal to capacity.tsv, the steps counted on
the reporter, and bad settings refused before anything is written."""

from __future__ import annotations

import contextlib

import pytest

from dnanet.bottleneck.pipeline import DEFAULT_LR, run_experiment
from dnanet.errors import DnanetError
from dnanet.progress import Reporter


class Recording(Reporter):
    """Keeps the last count of each counter: {what: (done, total, unit)}."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, tuple[int, int | None, str]] = {}

    @contextlib.contextmanager
    def counter(self, what, total=None, unit="records"):
        self.counts[what] = (0, total, unit)
        yield lambda done: self.counts.__setitem__(what, (done, total, unit))


def test_the_grid_is_trained_written_and_summarised(tmp_path):
    reporter = Recording()
    out = tmp_path / "bottleneck"
    outcome = run_experiment(out, [1, 2], [5, 8], seeds=2, steps=400, threads=1, reporter=reporter)
    assert [(r.hidden, r.n, r.seed) for r in outcome.results] == [
        (h, n, s) for h in (1, 2) for n in (5, 8) for s in (0, 1)
    ]
    rows = [line.split("\t") for line in (out / "capacity.tsv").read_text().splitlines()[1:]]
    assert [[int(v) for v in row[:3]] + [float(row[3])] for row in rows] == [
        [r.hidden, r.n, r.seed, pytest.approx(r.accuracy, abs=1e-6)] for r in outcome.results
    ]
    assert [p.name for p in outcome.files] == ["capacity.png", "capacity.tsv", "network_h2.png"]
    # one bucket (8 <= 2 * 5) per hidden size: 2 x 400 steps
    assert reporter.counts["training"] == (800, 800, "steps") and outcome.notes == []
    assert outcome.one_unit_line() == (
        "H=1 without biases: accuracy is exactly 2/(N-1) in 4 of 4 cells with N >= 4 "
        "(one tanh unit can make only two outputs win)"
    )
    hidden_two = [row for row in outcome.largest_rows() if row[0] == "2"]
    assert hidden_two and hidden_two[0][2] == "5,8"
    assert outcome.files_line() == (f"results in {out}/capacity.tsv, capacity.png, network_h2.png")
    assert outcome.title().startswith("Largest N learned perfectly by every seed (")


def test_kmer_flavour_with_adam_uses_its_default_rate_and_biases(tmp_path):
    outcome = run_experiment(
        tmp_path / "kmers", [2], [1], kmers=True, seeds=1, optimizer="adam", steps=20, bias=True
    )
    assert [(r.hidden, r.n) for r in outcome.results] == [(2, 4)]
    header, row = (tmp_path / "kmers" / "capacity.tsv").read_text().splitlines()
    assert header.endswith("\tkmer") and row.split("\t")[-1] == "1"
    assert outcome.one_unit_line() is None and DEFAULT_LR["adam"] == 0.01


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"optimizer": "rmsprop"}, "--optimizer 'rmsprop': choose one of sgd, adam"),
        ({"lr": -1.0}, "--lr -1: must be positive"),
        ({"sizes": [9], "kmers": True}, "choose K from 1 to 6"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, settings, message):
    arguments = {"sizes": [5], **settings}
    with pytest.raises(DnanetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_experiment(tmp_path / "never", [1], arguments.pop("sizes"), steps=1, **arguments)
    assert list(tmp_path.iterdir()) == []
