"""Encodings with hand-checkable expectations (layout in dnanet/inputs/encode.py)."""

import numpy as np
import pytest
import torch

from dnanet.inputs.encode import (
    PAD,
    UNKNOWN,
    kmer_digits,
    kmer_ids,
    kmer_ids_array,
    kmer_name,
    kmer_names,
    kmer_vocabulary_size,
    one_hot,
    reverse_complement,
    reverse_complement_ids,
    reverse_complement_one_hot,
    sequences_to_codes,
    spread_windows,
)
from dnanet.inputs.read import ALLOWED


def test_codes_of_bases_rna_ambiguity_and_case():
    codes, lengths = sequences_to_codes([b"ACGTN", b"acgu", b"RyK"])
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(
        codes, [[0, 1, 2, 3, UNKNOWN], [0, 1, 2, 3, PAD], [UNKNOWN] * 3 + [PAD, PAD]]
    )
    np.testing.assert_array_equal(lengths, [5, 4, 3])


def test_every_allowed_letter_has_a_code():
    letters = bytes(b for b in ALLOWED if not chr(b).isspace())
    codes, _ = sequences_to_codes([letters])
    assert codes.max() <= UNKNOWN


def test_one_hot_of_acgtn_is_the_explicit_matrix():
    codes, _ = sequences_to_codes([b"ACGTN"])
    expected = torch.tensor(
        [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.float32
    )
    encoded = one_hot(torch.from_numpy(codes))
    assert encoded.shape == (1, 4, 5) and encoded.dtype == torch.float32
    assert torch.equal(encoded[0], expected)


def test_padding_is_an_all_zero_column():
    codes, _ = sequences_to_codes([b"AC", b"A"])
    assert one_hot(torch.from_numpy(codes))[1, :, 1].abs().sum() == 0


def test_kmer_ids_are_base4_numbers_with_unknown_and_padding_ids():
    codes, _ = sequences_to_codes([b"ACGTA", b"ANGT"])
    ids = kmer_ids(torch.from_numpy(codes), k=2)
    # AC=0*4+1, CG=1*4+2, GT=2*4+3, TA=3*4+0; AN and NG are unknown (16), GT=11,
    # T+pad is padding (17)
    assert ids.tolist() == [[1, 6, 11, 12], [16, 16, 11, 17]]
    assert kmer_vocabulary_size(2) == 18


def test_kmer_stride_and_short_sequences():
    codes, _ = sequences_to_codes([b"ACGTAC"])
    assert kmer_ids(torch.from_numpy(codes), k=3, stride=3).tolist() == [[6, 49]]  # ACG, TAC
    short, _ = sequences_to_codes([b"AC"])
    assert kmer_ids(torch.from_numpy(short), k=3).tolist() == [[65]]  # one padding k-mer


def test_reverse_complement_of_padded_batch():
    codes, lengths = sequences_to_codes([b"AACGN", b"GGT"])
    rc = reverse_complement(torch.from_numpy(codes), torch.from_numpy(lengths))
    expected, _ = sequences_to_codes([b"NCGTT", b"ACC"])
    assert torch.equal(rc, torch.from_numpy(expected))


def test_reverse_complement_twice_is_identity():
    rng = np.random.default_rng(0)
    sequences = [
        rng.choice(list(b"ACGTN"), size=n).astype(np.uint8).tobytes() for n in (1, 7, 30, 31)
    ]
    codes, lengths = sequences_to_codes(sequences)
    codes_t, lengths_t = torch.from_numpy(codes), torch.from_numpy(lengths)
    assert torch.equal(
        reverse_complement(reverse_complement(codes_t, lengths_t), lengths_t), codes_t
    )


def records() -> tuple[torch.Tensor, torch.Tensor]:
    """Two records of different lengths, one with an unknown base: codes (2, 24), lengths (2,)."""
    codes, lengths = sequences_to_codes([b"ACGTTGCANGGATCCATTGACGCA", b"TTGACCGATGCAAT"])
    return torch.from_numpy(codes), torch.from_numpy(lengths)


def test_reverse_complement_one_hot_matches_the_codes():
    codes, lengths = records()
    x = one_hot(codes)
    assert torch.equal(
        reverse_complement_one_hot(x, lengths), one_hot(reverse_complement(codes, lengths))
    )
    assert torch.equal(
        reverse_complement_one_hot(reverse_complement_one_hot(x, lengths), lengths), x
    )


@pytest.mark.parametrize("k", [1, 3, 6])
def test_kmer_ids_match_a_naive_reference(k):
    rng = np.random.default_rng(k)
    sequence = rng.choice(list(b"ACGT"), size=40).astype(np.uint8).tobytes()
    codes, _ = sequences_to_codes([sequence])
    ids = kmer_ids(torch.from_numpy(codes), k=k)[0].tolist()
    naive = [
        int(sequence[i : i + k].translate(bytes.maketrans(b"ACGT", b"0123")), 4)
        for i in range(40 - k + 1)
    ]
    assert ids == naive


def test_numpy_kmer_ids_equal_the_torch_ones_and_name_their_letters():
    rng = np.random.default_rng(1)
    sequences = [rng.choice(list(b"ACGTN"), size=n).astype(np.uint8).tobytes() for n in (2, 9, 17)]
    codes, _ = sequences_to_codes(sequences)  # (3, 17), PAD after the shorter ones
    for k, stride in ((1, 1), (3, 1), (3, 2), (4, 3)):
        expected = kmer_ids(torch.from_numpy(codes), k, stride).numpy()
        assert np.array_equal(kmer_ids_array(codes, k, stride), expected)
    ids = kmer_ids_array(codes, 3)[1]
    letters = sequences[1].decode()
    for start, kmer_id in enumerate(ids[: len(letters) - 2]):
        window = letters[start : start + 3]
        assert (kmer_name(kmer_id, 3) == window) if "N" not in window else kmer_id == 4**3


def test_kmer_letters_and_digits_in_id_order():
    assert (
        kmer_name(1, 3) == "AAC"
        and kmer_name(63, 3) == "TTT"
        and kmer_name(int("0123", 4), 4) == "ACGT"
    )
    names = kmer_names(2)
    assert (
        names[:5] == ["AA", "AC", "AG", "AT", "CA"] and names[-1] == "TT" and len(set(names)) == 16
    )
    assert kmer_digits(np.array([[6, 49]]), 3).tolist() == [[[0, 1, 2], [3, 0, 1]]]  # ACG, TAC


def test_kmer_reverse_complement_ids():
    rc = reverse_complement_ids(3)
    assert kmer_name(int(rc[0]), 3) == "TTT"  # AAA -> TTT
    assert rc[int("012", 4)] == int("123", 4)  # ACG -> CGT
    complement = str.maketrans("ACGT", "TGCA")
    for k in (1, 2, 5):
        rc = reverse_complement_ids(k)
        assert [kmer_name(r, k) for r in rc] == [
            name.translate(complement)[::-1] for name in kmer_names(k)
        ]


def test_reverse_complement_ids_pair_up_kmers():
    rc = reverse_complement_ids(3)
    assert (
        rc[0] == 63 and rc[int("012", 4)] == int("123", 4) and rc[int("001", 4)] == int("233", 4)
    )  # AAA-TTT, ACG-CGT, AAC-GTT
    assert (rc[rc] == np.arange(64)).all() and (rc != np.arange(64)).all()


def test_spread_windows_gives_each_base_score_over_k():
    codes = torch.zeros(1, 5, dtype=torch.uint8)
    codes[0, 4] = PAD
    spread = spread_windows(torch.tensor([[3.0, 6.0]]), k=3, stride=1, codes=codes)
    assert torch.allclose(spread, torch.tensor([[1.0, 3.0, 3.0, 2.0, 0.0]]))
    strided = spread_windows(
        torch.tensor([[3.0, 6.0]]), k=2, stride=2, codes=torch.zeros(1, 5, dtype=torch.uint8)
    )
    assert torch.allclose(strided, torch.tensor([[1.5, 1.5, 3.0, 3.0, 0.0]]))
