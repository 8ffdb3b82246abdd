"""The one exception type the CLI turns into a one-line message and exit code 2.

Raise `UserError` for anything the user can fix (bad config value, missing file, wrong
shape). The message restates the bad input and says how to fix it (DESIGN §7.8).
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""
