"""Property-based tests (hypothesis): the readers never fail with anything but a DnanetError, gzip
and plain files read alike, encodings round-trip, and every model family's outputs for a record do
not depend on what else is in its batch.

Each property runs a bounded number of examples (`FAST`, `SLOW`; no deadline) so the file stays well
under a minute on a loaded 2-core machine (DNANET_PROPERTY_SCALE=50 runs 50 times as many, for a
longer hunt); a failing example is shrunk and printed by hypothesis.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dnanet.config.run_config import load_config
from dnanet.errors import DnanetError
from dnanet.inference.predict import predict_batch
from dnanet.inputs.bed import is_interval_file, read_intervals
from dnanet.inputs.bed import reverse_complement as reverse_complement_bytes
from dnanet.inputs.encode import (
    BYTE_TO_CODE,
    PAD,
    UNKNOWN,
    kmer_ids,
    one_hot,
    pad_flat_codes,
    reverse_complement,
    reverse_complement_ids,
    reverse_complement_one_hot,
    sequences_to_codes,
)
from dnanet.inputs.read import AMBIGUOUS, read_fasta, read_label_table
from dnanet.inputs.record_ids import hash_repeats, identical_repeats
from dnanet.inputs.sources import LabelledInput, input_notes, input_records
from dnanet.models import MODELS, build_model
from dnanet.training.experiment import model_arguments_of

SCALE = float(
    os.environ.get("DNANET_PROPERTY_SCALE", "1")
)  # e.g. 50 for a longer hunt for counterexamples
FAST = settings(
    max_examples=int(40 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(
    max_examples=int(8 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"(\xb5/\xfd", b"PK\x03\x04")

# Byte soup that reaches deep into the FASTA parser: headers, bases, IUPAC codes, whitespace,
# line ends, and bytes that are illegal or not UTF-8.
FASTA_PIECES = [
    b">",
    b">r1",
    b">r1 desc",
    b"\n",
    b"\r\n",
    b"ACGT",
    b"acgtu",
    b"N",
    b"RYKM",
    b" ",
    b"\t",
    b"-",
    b"*",
    b"1",
    b"\xff",
    b"\xe9",
    b"\xc3\xa9",
    b"\x00",
    b">\n",
    b"\n>",
]
fasta_like = st.one_of(
    st.binary(max_size=200), st.lists(st.sampled_from(FASTA_PIECES), max_size=40).map(b"".join)
)
TABLE_PIECES = [
    b"id",
    b"label",
    b"split",
    b"\t",
    b",",
    b"\n",
    b"\r\n",
    b"r1",
    b"r2",
    b"bound",
    b"train",
    b"val",
    b" ",
    b'"',
    b"'",
    b"#",
    b"\xff",
    b"\xe9",
    b"\x00",
    b"\\",
    b"NA",
    b"1e5",
]
table_like = st.one_of(
    st.binary(max_size=200), st.lists(st.sampled_from(TABLE_PIECES), max_size=40).map(b"".join)
)
BED_PIECES = [
    b"chr1",
    b"chr2",
    b"\t",
    b" ",
    b"\n",
    b"0",
    b"10",
    b"100",
    b"-5",
    b"+",
    b"-",
    b".",
    b"#",
    b"track",
    b"browser",
    b"1e3",
    b"99999999999999999999",
    b"\xff",
    b"\x00",
    b"peak",
    b"nan",
    b"\r\n",
]
bed_like = st.one_of(
    st.binary(max_size=200), st.lists(st.sampled_from(BED_PIECES), max_size=50).map(b"".join)
)


def outcome(read, path: Path):
    """What reading `path` gives: ("ok", result) or ("error", message with the path taken out).
    Any exception other than DnanetError fails the test."""
    try:
        return "ok", read(path)
    except DnanetError as error:
        message = str(error).replace(str(path), "FILE")
        assert "\n" not in message, message
        return "error", message


def plain_and_gzip(data: bytes, name: str, read):
    """Outcomes of `read` on `data` as a plain file and gzip-compressed (same name + .gz)."""
    with tempfile.TemporaryDirectory() as folder:
        plain, packed = Path(folder) / name, Path(folder) / f"{name}.gz"
        plain.write_bytes(data)
        packed.write_bytes(gzip.compress(data))
        return outcome(read, plain), outcome(read, packed)


def assert_agree(plain, packed, data: bytes) -> None:
    if not data:  # an empty file is refused as empty; its gzip (a few bytes) as holding nothing
        assert plain[0] == packed[0] == "error"
    else:
        assert plain == packed


# --- FASTA ---------------------------------------------------------------------------------


@FAST
@given(fasta_like)
def test_fasta_bytes_give_records_or_a_dnanet_error_alike_plain_and_gzip(data):
    assume(not data.startswith(COMPRESSED_MAGIC))  # those are read as (or refused as) compressed
    plain, packed = plain_and_gzip(data, "reads.fa", lambda path: list(read_fasta(path)))
    assert_agree(plain, packed, data)
    if plain[0] == "ok":
        for record in plain[1]:
            assert (
                record.id
                and record.sequence
                and not record.sequence.translate(
                    None, b"ACGTUacgtu" + AMBIGUOUS + AMBIGUOUS.lower()
                )
            )


GZIPPED = gzip.compress(b"".join(b">r%d\nACGTNacgt\n" % i for i in range(30)))


@FAST
@given(
    st.one_of(
        st.binary(max_size=120).map(lambda tail: b"\x1f\x8b" + tail),  # garbage after the magic
        st.integers(2, len(GZIPPED) - 1).map(lambda cut: GZIPPED[:cut]),  # cut short
        st.tuples(st.integers(10, len(GZIPPED) - 1), st.integers(1, 255)).map(  # one byte flipped
            lambda flip: (
                GZIPPED[: flip[0]] + bytes([GZIPPED[flip[0]] ^ flip[1]]) + GZIPPED[flip[0] + 1 :]
            )
        ),
    )
)
def test_damaged_gzip_gives_records_or_a_dnanet_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reads.fa.gz"
        path.write_bytes(data)
        result = outcome(lambda p: list(read_fasta(p)), path)
    if (
        result[0] == "ok"
    ):  # a flip inside the header's optional fields can go unnoticed; the records cannot
        assert [(r.id, r.sequence) for r in result[1]] == [
            (f"r{i}", b"ACGTNacgt") for i in range(30)
        ]


record_ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda text: text.split() == [text]
)
sequences = st.text("ACGTUNacgtunRYSWKMBDHVryswkmbdhv", min_size=1, max_size=150)


@FAST
@given(
    st.lists(
        st.tuples(record_ids, sequences, st.integers(1, 80), st.sampled_from(["\n", "\r\n"])),
        min_size=1,
        max_size=6,
    )
)
def test_written_fasta_reads_back_exactly(records):
    """Any UTF-8 ids (no whitespace), any legal letters, any line width and line end."""
    text = "".join(
        f">{name} some description{end}"
        + "".join(sequence[i : i + width] + end for i in range(0, len(sequence), width))
        for name, sequence, width, end in records
    )
    plain, packed = plain_and_gzip(text.encode(), "reads.fa", lambda path: list(read_fasta(path)))
    assert plain == packed and plain[0] == "ok"
    assert [(r.id, r.sequence.decode()) for r in plain[1]] == [
        (name, sequence) for name, sequence, _, _ in records
    ]


# --- label tables --------------------------------------------------------------------------


@FAST
@given(table_like, st.sampled_from(["labels.tsv", "labels.csv"]))
def test_label_table_bytes_give_a_table_or_a_dnanet_error_alike_plain_and_gzip(data, name):
    assume(not data.startswith(COMPRESSED_MAGIC))
    plain, packed = plain_and_gzip(data, name, read_label_table)
    assert_agree(plain, packed, data)
    if plain[0] == "ok":
        assert all(isinstance(key, str) and len(value) == 1 for key, value in plain[1].items())


words = st.text("ABCXYZabcxyz0123456789_.:-", min_size=1, max_size=10)


@FAST
@given(
    st.dictionaries(words, st.tuples(words, words), min_size=1, max_size=8),
    st.sampled_from(["\t", ","]),
)
def test_written_label_table_reads_back_exactly(rows, sep):
    text = f"id{sep}label{sep}cell\n" + "".join(
        f"{key}{sep}{a}{sep}{b}\n" for key, (a, b) in rows.items()
    )
    plain, packed = plain_and_gzip(
        text.encode(),
        "labels.csv" if sep == "," else "labels.tsv",
        lambda path: read_label_table(path, label_columns=["label", "cell"]),
    )
    assert plain == packed == ("ok", rows)


# --- BED -----------------------------------------------------------------------------------


@FAST
@given(bed_like)
def test_bed_bytes_give_intervals_or_a_dnanet_error_alike_plain_and_gzip(data):
    assume(not data.startswith(COMPRESSED_MAGIC))
    plain, packed = plain_and_gzip(data, "peaks.bed", lambda path: list(read_intervals(path)))
    assert_agree(plain, packed, data)
    if plain[0] == "ok":
        assert all(0 <= i.start < i.end and i.strand in "+-." for i in plain[1])
    with tempfile.TemporaryDirectory() as folder:  # sniffing a file of unknown kind never raises
        path = Path(folder) / "input.txt"
        path.write_bytes(data)
        assert is_interval_file(path) in (True, False)


# --- ids used twice --------------------------------------------------------------------------

few_ids = st.lists(
    st.sampled_from(["a", "b", "c", "é", "peak_1", "peak_10"]), min_size=1, max_size=12
)


def naive_repeats(ids: list[str]) -> list[tuple[int, int]]:
    """(position, first position of the same id) of each record whose id was used before."""
    return [(i, ids.index(name)) for i, name in enumerate(ids) if ids.index(name) < i]


@FAST
@given(few_ids, st.booleans())
def test_repeated_ids_are_noted_and_refused_exactly_even_when_every_hash_collides(ids, collide):
    """The hash only proposes candidates: with every id hashed alike the ids still decide."""
    import dnanet.inputs.record_ids as record_ids

    hashed = (lambda text: 0) if collide else hash
    expected = naive_repeats(ids)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reads.fa"
        path.write_text("".join(f">{name}\nACGT\n" for name in ids))  # record i is on line 2i + 1
        item = LabelledInput("a", path)
        original, record_ids.hash = record_ids.__dict__.get("hash"), hashed
        try:
            assert [r.id for r in input_records(item)] == ids
            notes = input_notes([item])
            hashes = np.array([hashed(name) for name in ids], dtype=np.int64)
            blob = "".join(ids).encode()
            offsets = np.cumsum([0] + [len(name.encode()) for name in ids])
            places = np.column_stack([np.zeros(len(ids), np.int64), 2 * np.arange(len(ids)) + 1])
            refused = outcome(
                lambda _: identical_repeats(
                    np.frombuffer(blob, np.uint8),
                    offsets,
                    hashes,
                    places,
                    [item],
                    lambda earlier, later: False,  # every record differs
                ),
                path,
            )
        finally:
            if original is None:
                del record_ids.hash
            else:
                record_ids.hash = original
    if not expected:
        assert notes == [] and refused[0] == "ok" and len(refused[1]) == 0
        return
    (later, first), count = expected[0], len(expected)
    example = f"'{ids[later]}', lines {2 * first + 1} and {2 * later + 1}"
    assert notes == [
        f"{path}: {count} record{'s reuse' if count > 1 else ' reuses'} an earlier record's id "
        f"(first: {example}); every record keeps its own row, in input order"
    ]
    assert refused[0] == "error" and refused[1].startswith(
        f"FILE lines {2 * first + 1} and {2 * later + 1}: record id '{ids[later]}' is used twice "
        "for different records"
    )


@FAST
@given(st.lists(st.integers(-3, 3), max_size=30))
def test_hash_repeats_finds_each_later_record_and_its_first_twin(values):
    later, first = hash_repeats(np.array(values, dtype=np.int64))
    assert list(zip(later.tolist(), first.tolist())) == naive_repeats(values)


# --- encoding ------------------------------------------------------------------------------

LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)  # code -> letter (UNKNOWN -> N)


@FAST
@given(st.lists(sequences, min_size=1, max_size=6))
def test_codes_decode_back_and_reverse_complement_agrees_on_bytes_codes_and_one_hot(batch):
    raw = [sequence.encode() for sequence in batch]
    codes, lengths = sequences_to_codes(raw)
    for row, sequence, length in zip(codes, raw, lengths):
        assert (row[length:] == PAD).all()
        folded = (
            sequence.upper()
            .replace(b"U", b"T")
            .translate(bytes.maketrans(AMBIGUOUS, b"N" * len(AMBIGUOUS)))
        )
        assert (
            LETTERS[row[:length]].tobytes() == folded
        )  # decode(encode(s)) is s, folded as the model sees it
    flat = np.frombuffer(b"".join(raw).translate(BYTE_TO_CODE), dtype=np.uint8)
    assert np.array_equal(pad_flat_codes(flat, lengths), codes)
    codes_t, lengths_t = torch.from_numpy(codes), torch.from_numpy(lengths)
    flipped = reverse_complement(codes_t, lengths_t)
    assert torch.equal(reverse_complement(flipped, lengths_t), codes_t)
    assert np.array_equal(
        flipped.numpy(), sequences_to_codes([reverse_complement_bytes(s) for s in raw])[0]
    )
    x = one_hot(codes_t)
    assert torch.equal(reverse_complement_one_hot(x, lengths_t), one_hot(flipped))
    assert torch.equal(
        reverse_complement_one_hot(reverse_complement_one_hot(x, lengths_t), lengths_t), x
    )
    assert torch.equal(x.sum(1) == 0, (codes_t == UNKNOWN) | (codes_t == PAD))


@FAST
@given(st.text("ACGT", min_size=1, max_size=40), st.integers(1, 5))
def test_kmer_ids_of_the_reverse_complement_are_the_complement_ids_reversed(sequence, k):
    assume(len(sequence) >= k)
    codes, lengths = sequences_to_codes([sequence.encode()])
    forward = kmer_ids(torch.from_numpy(codes), k)[0]
    backward = kmer_ids(reverse_complement(torch.from_numpy(codes), torch.from_numpy(lengths)), k)[
        0
    ]
    assert torch.equal(backward, torch.from_numpy(reverse_complement_ids(k))[forward.flip(0)])


# --- batch-size invariance of every model family ----------------------------------------------

ENCODERS = {
    "onehot": {"encoder": "onehot"},
    "kmer3": {"encoder": "kmer", "k": 3, "stride": 1},
    "kmer4-stride2": {"encoder": "kmer", "k": 4, "stride": 2},
}


@lru_cache(maxsize=None)
def small_model(name: str, encoder: str) -> torch.nn.Module:
    """The family's shipped config (its default sizes are small) with random weights, in eval
    mode."""
    torch.manual_seed(0)
    arguments = {**model_arguments_of(load_config(model=name)), **ENCODERS[encoder]}
    return build_model(name, n_outputs=3, arguments=arguments).eval()


batches = st.lists(st.text("ACGTNacgt", min_size=1, max_size=160), min_size=2, max_size=5)


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("name", list(MODELS))
@SLOW
@given(batch=batches, strands=st.booleans())
def test_a_records_outputs_do_not_depend_on_its_batch(name, encoder, batch, strands):
    """Scored with others of other lengths (so padded) or alone, a record gets the same outputs."""
    model = small_model(name, encoder)
    raw = [sequence.encode() for sequence in batch]
    codes, lengths = sequences_to_codes(raw)
    together = predict_batch(model, codes, lengths, strands, activate=torch.sigmoid)
    alone = torch.cat(
        [
            predict_batch(model, *sequences_to_codes([sequence]), strands, activate=torch.sigmoid)
            for sequence in raw
        ]
    )
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
