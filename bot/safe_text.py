"""Text of any shape made storable and sendable: NUL and lone surrogates become U+FFFD.

PostgreSQL refuses NUL in text and in JSON (asyncpg raises, and the reply that carried it was
lost), and no UTF-8 encoder takes a lone surrogate (JSON's "\\ud800" escape makes one). Both are
replaced, never dropped, so the person sees where their text held something unprintable.
Everything else (40 KB, emoji, right-to-left marks) passes untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` with every NUL and lone surrogate replaced; the same object when there is none."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(REPLACEMENT, text)


def clean_json(value: Any) -> Any:
    """A JSON-shaped value (dicts, lists, strings, numbers) with every string in it cleaned, keys too."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """The store's JSON serializer: cleaned first, so no backend refuses the row."""
    return json.dumps(clean_json(value))


def clean_parameters(parameters: Any) -> Any:
    """A DBAPI parameter set (a tuple, list or dict; a list of them for executemany) with its text cleaned."""
    if isinstance(parameters, dict):
        return {k: clean(v) if isinstance(v, str) else v for k, v in parameters.items()}
    if isinstance(parameters, list | tuple):
        if parameters and isinstance(parameters[0], list | tuple | dict):
            return type(parameters)(clean_parameters(p) for p in parameters)
        return type(parameters)(clean(v) if isinstance(v, str) else v for v in parameters)
    return parameters
