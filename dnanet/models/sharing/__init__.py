"""Exact computation shared between CNN inputs that differ in a few places: the overlapping
windows of a genome track, and single-base mutants (in-silico mutagenesis, SNVs).

A convolution's output at a position depends only on its receptive field. Two inputs that
agree except in a few places therefore have the same feature maps except in a few places, a
*span* per change that widens by ``kernel - 1`` at each convolution and shrinks by the pool
width at each max-pool. Only the spans are computed; everything else is read from the feature
maps of a *source* computed once:

- a mutant: the source is the sequence itself, and the span starts at the changed base;
- a track window: the source is the whole stretch the windows are cut from. A window's maps
  equal the stretch's except where the window's own zero padding reaches in (its receptive
  field crosses either end), so each window has two spans, one per end, that start empty at
  its ends. Max-pooling groups positions from the start of each input, so a window's maps
  line up with the stretch's only when its start is a multiple of the product of the pool
  widths (`phase_period`) from the stretch's start: windows are taken in phases, and each
  phase has a source of its own that starts at the phase.

The per-position maps are then read out as the model reads them (`CNN.pooling`, ``dense``,
``head``), so outputs equal the model's own on each input up to float rounding (tested within
1e-5). The cost of a span does not grow with the input: a mutant of a 1 kb sequence costs about
what one of a 200 bp sequence does, and a track window about two mutants, whatever the step.
A mutant's convolutions after the first take only its change: they are linear, so their output
is the source's plus the transposed convolution of the difference (a third fewer
multiplications for the shipped CNN than convolving the span's whole receptive field).

Only `CNN` models with one-hot input are shared (`shares_computation`): a k-mer input changes
``k`` positions per base, and the LSTM and the transformer see the whole sequence at every
position, so nothing of theirs can be reused exactly.

The package: `spans.py` (the trunk's maps and the spans carried through it), `readout.py` (the
pooled features and logits of items: running sums, sliding maxima, only the position bins a span
touches pooled again), `mutants.py` (`mutant_logits`) and `windows.py` (`window_logits`).
"""

from dnanet.models.sharing.mutants import ROW_BLOCK, mutant_logits
from dnanet.models.sharing.spans import phase_period, shares_computation
from dnanet.models.sharing.windows import window_logits

__all__ = ["ROW_BLOCK", "mutant_logits", "phase_period", "shares_computation", "window_logits"]
