"""The one exception type for problems a user can fix (bad input, bad config, bad paths).

The CLI turns a `DnanetError` into a one-line message and exit code 1; anything else is a bug.
"""


class DnanetError(Exception):
    """A user-facing error whose message names the file and the place (line, record, key)."""
