"""Words and colour for a solve's verdict in the CLI's tables: red only on a terminal.

A table printed to a terminal marks a solve that did not converge in red (ANSI colour); printed to
a file or a pipe (a script, the README) it is the same text without escape codes.
"""

from __future__ import annotations

import sys

from core.da.method import STATUS_MAX_STEPS, STATUS_WORDS, STATUS_WRONG_MINIMUM

RED, RESET = "\x1b[31;1m", "\x1b[0m"
SHORT_WORDS = {  # "NO (...)" in a table's narrow column; the status words in full under it
    STATUS_WORDS[STATUS_WRONG_MINIMUM]: "wrong minimum",
    STATUS_WORDS[STATUS_MAX_STEPS]: "iteration cap",
}


def use_colour(stream=None) -> bool:
    """Whether to colour: only when `stream` (default stdout) is a terminal."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def red(text: str, colour: bool) -> str:
    """`text` in red when `colour`, else as it is."""
    return f"{RED}{text}{RESET}" if colour else text


def not_converged(status_words: str) -> str:
    """ "NO (wrong minimum)", "NO (iteration cap)" or "NO (failed)" for a solve's status words."""
    return f"NO ({SHORT_WORDS.get(status_words, 'failed')})"


def pad_coloured(text: str, width: int, colour: bool, bad: bool) -> str:
    """`text` right-aligned in `width` columns, then coloured red if `bad` (padding counts the text only)."""
    padded = f"{text:>{width}}"
    return red(padded, colour and bad)
