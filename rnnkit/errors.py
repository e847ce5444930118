"""The one exception type a user can cause.

Everything a user can get wrong (a missing file, a bad flag value, non-text data, a checkpoint from
another model) raises :class:`RnnkitError` with a message that says what was wrong, with the value, and
what to do instead. The command line turns it into one line on stderr and exit status 2.
"""


class RnnkitError(Exception):
    """A problem with the user's input, reported as one line and exit status 2 by the CLI."""
