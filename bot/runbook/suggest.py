"""Close-match suggestions for mistyped ids ("did you mean day2.1?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The nearest choices to ``word``, best first."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """A "; did you mean X?" suffix naming up to ``n`` choices, or "" when nothing is close."""
    matches = closest(word, choices, n=n)
    if not matches:
        return ""
    if len(matches) == 1:
        return f"; did you mean {matches[0]}?"
    return "; did you mean " + ", ".join(matches[:-1]) + f" or {matches[-1]}?"
