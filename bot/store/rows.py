"""Rows read by position: a record's columns selected in its fields' order.

A Core row's attribute look-ups (``row.state``) cost about a microsecond each, three times what
unpacking the row as a tuple does; a lane or an execution read that way was most of a cached
read's miss (issue 14). Selecting the columns in the record's own field order keeps the unpacking
right whatever order the table declares them in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import ColumnElement, Table


def columns_of(table: Table, record: type[Any]) -> tuple[ColumnElement[Any], ...]:
    """``table``'s columns named as ``record``'s fields, in the fields' order (every field must be one)."""
    return tuple(table.c[field.name] for field in dataclasses.fields(record))
