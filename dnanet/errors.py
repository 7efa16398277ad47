"""The one exception type for problems a user can fix (bad input, bad config, bad paths).

The CLI turns a `DnanetError` into a one-line message and exit code 1; anything else is a bug.
A message quotes what it is about (a record id, a header, a value), and what it quotes may be
huge: a FASTA header of 10 MB once made a 10 MB error line. `shorten_words` cuts every run of
more than `LONGEST_WORD` characters without a space to its start and its length.
"""

from __future__ import annotations

import re

LONGEST_WORD = 300  # characters without a space a message shows whole (paths stay whole)
_KEPT = 60  # characters kept of a longer one
_LONG_WORD = re.compile(r"\S{%d,}" % (LONGEST_WORD + 1))


def shorten_words(message: str) -> str:
    """`message` with each run of more than `LONGEST_WORD` non-space characters cut to its first
    `_KEPT` characters and its length ('xxxx… (10,000,000 characters)')."""
    return _LONG_WORD.sub(
        lambda word: f"{word.group()[:_KEPT]}… ({len(word.group()):,} characters)", message
    )


class DnanetError(Exception):
    """A user-facing error whose message names the file and the place (line, record, key); an
    over-long quoted value in it is cut (`shorten_words`)."""

    def __init__(self, message: str = "", *args):
        super().__init__(shorten_words(str(message)), *args)
