"""The one exception type the CLI turns into a one-line message and exit code 2.

Raise `UserError` for anything the user can fix (bad config value, missing file, wrong
shape). The message restates the bad input and says how to fix it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def lookup(kind: str, name: str, table: dict, choices: list[str] | None = None):
    """`table[name]`, or a UserError listing the choices with a "did you mean" hint."""
    if name in table:
        return table[name]
    import difflib

    names = choices if choices is not None else list(table)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UserError(f"unknown {kind} '{name}'; choose one of {', '.join(names)}{hint}")
