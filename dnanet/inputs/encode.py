"""Encoding sequences as numbers. The one tensor layout of dnanet, stated once:

- **codes**: uint8 ``(N, L)``, ``A=0 C=1 G=2 T=3`` (``U`` is T), ``UNKNOWN=4`` for N and every
  IUPAC ambiguity code, ``PAD=5`` after a sequence's end (sequences are left-aligned). Codes are
  what the data loader carries: 16× less memory traffic than float one-hot.
- **one-hot**: float32 ``(N, 4, L)``, channels A C G T; unknown and padding are all-zero columns.
  Made from codes by a 6-row lookup table, inside the model's first layer.
- **k-mer ids**: int64 ``(N, W)``, one id per window of ``k`` bases taken every ``stride`` bases,
  ``W = (L - k) // stride + 1``; the id is the window read as a base-4 number (``AAA=0``,
  ``AAC=1`` … ``TTT=4**k-1``); ``4**k`` is the unknown k-mer (a window with an unknown base) and
  ``4**k + 1`` the padding k-mer (a window running past the sequence's end).

Bytes become codes through a 256-entry byte lookup table (``bytes.translate``), never a loop per
base; k-mer ids come from the codes by a rolling base-4 sum, one base of every window at a time.

The k-mer vocabulary lives here and nowhere else: ids from codes (`kmer_ids` in torch,
`kmer_ids_array` in numpy: one arithmetic), ids back to bases (`kmer_digits`) and letters
(`kmer_name`, `kmer_names`), the reverse complement of ids (`reverse_complement_ids`), and
per-window values spread back onto bases (`spread_windows`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from dnanet.inputs.read import AMBIGUOUS

A, C, G, T, UNKNOWN, PAD = range(6)
INVALID = 255


def _byte_table() -> bytes:
    table = bytearray([INVALID]) * 256
    for letters, code in ((b"A", A), (b"C", C), (b"G", G), (b"TU", T), (AMBIGUOUS, UNKNOWN)):
        for byte in letters + letters.lower():
            table[byte] = code
    return bytes(table)


BYTE_TO_CODE = _byte_table()
"""256-entry table for ``bytes.translate``: a letter's byte value -> its code (255 if invalid)."""

BASE_LETTERS = np.array(list("ACGT"))
"""Letter of each base code (A C G T), indexed by code."""

COMPLEMENT_CODES = torch.tensor([T, G, C, A, UNKNOWN, PAD], dtype=torch.long)


def sequences_to_codes(sequences: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Encode validated sequences as padded codes.

    Returns codes uint8 ``(N, L_max)`` (``PAD`` after each sequence's end) and lengths int64
    ``(N,)``.
    """
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    flat = np.frombuffer(b"".join(sequences).translate(BYTE_TO_CODE), dtype=np.uint8)
    return pad_flat_codes(flat, lengths), lengths


GATHER_POSITIONS = 1 << 20  # padded positions `pad_flat_codes` gathers at once


def pad_flat_codes(
    flat: np.ndarray, lengths: np.ndarray, starts: np.ndarray | None = None
) -> np.ndarray:
    """Cut sequences out of a flat uint8 code buffer into a padded ``(N, L_max)`` array.

    ``starts`` gives each sequence's offset in ``flat`` (default: back to back, in order). Rows
    are gathered `GATHER_POSITIONS` padded positions at a time, so the int64 positions of the
    gather (8 bytes a base) stay a few MB however many sequences are cut (a 50,000-record sample
    of 200 bp took 160 MB of positions at once).
    """
    n, max_len = len(lengths), int(lengths.max(initial=0))
    if starts is None:
        if n and (lengths == max_len).all():
            return flat[: n * max_len].reshape(n, max_len).copy()
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    codes = np.full((n, max_len), PAD, dtype=np.uint8)
    rows = max(1, GATHER_POSITIONS // max(max_len, 1))
    for first in range(0, n, rows):
        last = min(n, first + rows)
        valid = np.arange(max_len) < lengths[first:last, None]  # (rows, L_max)
        positions = starts[first:last, None] + np.arange(max_len)
        codes[first:last][valid] = flat[positions[valid]]
    return codes


def one_hot(codes: torch.Tensor) -> torch.Tensor:
    """Codes ``(N, L)`` (any integer dtype) -> float32 one-hot ``(N, 4, L)``, A C G T channels.

    Compares each code with the four base codes (unknown and padding match none): faster on
    CPU than indexing a lookup table, and contiguous in the (N, 4, L) layout.
    """
    bases = torch.arange(4, dtype=codes.dtype, device=codes.device).view(1, 4, 1)
    return (codes.unsqueeze(1) == bases).float()


def kmer_vocabulary_size(k: int) -> int:
    """Number of distinct k-mer ids: 4**k bases-only k-mers, the unknown k-mer and padding."""
    return 4**k + 2


def kmer_ids(codes: torch.Tensor, k: int, stride: int = 1) -> torch.Tensor:
    """Codes ``(N, L)`` -> k-mer ids int64 ``(N, W)`` (see the module docstring for the ids).

    Sequences shorter than ``k`` yield a single padding k-mer, so every row has a window.
    """
    if codes.shape[1] < k:
        codes = F.pad(codes, (0, k - codes.shape[1]), value=PAD)
    last = (codes.shape[1] - k) // stride * stride  # start of the last window
    ids = torch.zeros(
        codes.shape[0], last // stride + 1, dtype=torch.long, device=codes.device
    )  # (N, W)
    worst = torch.zeros_like(codes[:, : last + 1 : stride])  # (N, W) largest code in each window
    for j in range(k):  # base j of every window at once: a rolling base-4 sum
        column = codes[:, j : j + last + 1 : stride]  # (N, W)
        ids.mul_(4).add_(column)
        worst = torch.maximum(worst, column)
    ids.masked_fill_(worst > T, 4**k)  # a window with an unknown base (or padding, next line)
    return ids.masked_fill_(worst == PAD, 4**k + 1)  # PAD is the largest code


def kmer_ids_array(codes: np.ndarray, k: int, stride: int = 1) -> np.ndarray:
    """`kmer_ids` for numpy: codes ``(N, L)`` -> k-mer ids int64 ``(N, W)``, the same ids (4**k
    for a window with an unknown base, 4**k + 1 for one past the end)."""
    codes = np.asarray(codes)
    return kmer_ids(
        torch.from_numpy(codes if codes.flags.writeable else codes.copy()), k, stride
    ).numpy()


def kmer_digits(ids: np.ndarray | int, k: int) -> np.ndarray:
    """k-mer ids ``(...)`` below 4**k -> their base codes int64 ``(..., k)``, first base first
    (the inverse of `kmer_ids` on windows of known bases)."""
    return (np.asarray(ids, dtype=np.int64)[..., None] // 4 ** np.arange(k - 1, -1, -1)) % 4


def kmer_name(kmer_id: int, k: int) -> str:
    """A k-mer id -> its letters (``kmer_name(1, 3) == "AAC"``, ``kmer_name(63, 3) == "TTT"``)."""
    return "".join(BASE_LETTERS[kmer_digits(kmer_id, k)])


def kmer_names(k: int) -> list[str]:
    """The 4**k k-mers' letters in id order (``AA..A, AA..C, ..., TT..T``)."""
    return ["".join(letters) for letters in BASE_LETTERS[kmer_digits(np.arange(4**k), k)]]


def reverse_complement_ids(k: int) -> np.ndarray:
    """int64 ``(4**k,)``: the id of each k-mer's reverse complement (ids as in `kmer_ids`)."""
    complement = T - kmer_digits(np.arange(4**k), k)[:, ::-1]  # (4**k, k)
    return kmer_ids_array(complement, k, stride=k)[:, 0]


def spread_windows(
    per_window: torch.Tensor, k: int, stride: int, codes: torch.Tensor
) -> torch.Tensor:
    """Values of k-mer windows ``(B, W)`` (window w covers bases ``w*stride .. w*stride+k-1``, as
    in `kmer_ids`) -> bases ``(B, L)`` like `codes` ``(B, L)``: each window adds value/k to each of
    its bases; zero on padding."""
    kernel = torch.full((1, 1, k), 1.0 / k, device=per_window.device)
    bases = F.conv_transpose1d(per_window.unsqueeze(1), kernel, stride=stride).squeeze(
        1
    )  # (B, (W-1)s+k)
    length = codes.shape[1]
    bases = F.pad(bases, (0, max(0, length - bases.shape[1])))[:, :length]
    return bases * (codes != PAD)


def reverse_complement(codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse complement of padded codes ``(N, L)``: each sequence's first ``lengths[i]`` codes
    are reversed and complemented, padding stays at the end. Applying it twice is the identity."""
    positions = torch.arange(codes.shape[1], device=codes.device)
    source = lengths[:, None].to(codes.device) - 1 - positions  # (N, L), negative past the end
    flipped = codes.gather(1, source.clamp(min=0))
    complement = COMPLEMENT_CODES.to(codes.device)[flipped.long()].to(codes.dtype)
    return torch.where(source >= 0, complement, torch.full_like(codes, PAD))


def reverse_complement_one_hot(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot-layout values ``(N, 4, L)`` (a one-hot sequence, or per-base
    values such as attributions): position ``i`` of each sequence's first ``lengths[n]`` goes to
    ``lengths[n] - 1 - i`` and channel A C G T to T G C A; past the end is zero. Differentiable;
    `one_hot(reverse_complement(codes))` equals it applied to `one_hot(codes)`; twice is the
    identity."""
    positions = torch.arange(x.shape[2], device=x.device)
    source = lengths[:, None].to(x.device) - 1 - positions  # (N, L), negative past the end
    flipped = x.flip(1).gather(2, source.clamp(min=0).unsqueeze(1).expand(-1, 4, -1))
    return flipped * (source >= 0).unsqueeze(1)
