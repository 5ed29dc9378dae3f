"""Dollars and plain numbers as the bot writes them, in reports, audit details and answers alike."""

from __future__ import annotations


def format_number(value: float) -> str:
    """82.3 -> "82.3", 85.0 -> "85", 2300 -> "2,300"."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_usd(value: float | None, signed: bool = False) -> str:
    """-250 -> "-$250"; with ``signed`` a saving of 0 reads "$0" and an increase "+$20"."""
    if value is None:
        return "no data"
    amount = format_number(abs(value))
    if value < 0:
        return f"-${amount}"
    return f"+${amount}" if signed and value > 0 else f"${amount}"
