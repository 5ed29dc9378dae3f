"""The condition language shared by triggers, gates, acceptance criteria and metric gates.

Grammar (one line, strict)::

    condition := METRIC OP threshold [ "for" DURATION | "over" DURATION ]
    threshold := NUMBER | "baseline" [ ("+" | "-") NUMBER ]
    OP        := ">" | ">=" | "<" | "<=" | "==" | "!="

``for D`` means the comparison held at every point of the last D (sustained);
``over W`` means the metric's window aggregate over the last W is compared once;
neither means the latest point is compared.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.runbook.durations import format_duration, parse_duration
from bot.runbook.errors import ConditionSyntaxError

Op = Literal[">", ">=", "<", "<=", "==", "!="]
Mode = Literal["latest", "for", "over"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Threshold:
    """A fixed number, or an offset from the metric's baseline ("baseline - 5")."""

    value: float
    relative_to_baseline: bool = False

    def resolve(self, baseline: float | None) -> float | None:
        """The absolute threshold, or None when it is relative and no baseline is known."""
        if not self.relative_to_baseline:
            return self.value
        if baseline is None:
            return None
        return baseline + self.value

    def __str__(self) -> str:
        if not self.relative_to_baseline:
            return _num(self.value)
        if self.value == 0:
            return "baseline"
        sign = "+" if self.value > 0 else "-"
        return f"baseline {sign} {_num(abs(self.value))}"


@dataclass(frozen=True)
class Condition:
    """One parsed condition; ``text`` is what the runbook said, kept for messages."""

    metric: str
    op: Op
    threshold: Threshold
    mode: Mode = "latest"
    window: timedelta | None = None
    text: str = ""

    def holds(self, value: float, baseline: float | None) -> bool | None:
        """Compare one value; None when the threshold cannot be resolved (no baseline)."""
        limit = self.threshold.resolve(baseline)
        if limit is None:
            return None
        return OPERATORS[self.op](value, limit)

    def __str__(self) -> str:
        tail = f" {self.mode} {format_duration(self.window)}" if self.window is not None else ""
        return f"{self.metric} {self.op} {self.threshold}{tail}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|>|<)"
    r"|(?P<sign>[+-])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    col: int  # 1-based column in the condition text


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionSyntaxError(f"unexpected character {text[pos]!r}", column=pos + 1)
        for kind in ("num", "op", "sign", "word"):
            if match.group(kind) is not None:
                start = match.start(kind)
                tokens.append(_Tok(kind, match.group(kind), start + 1))
                break
        pos = match.end()
    return tokens


def parse_condition(text: str, known_metrics: set[str] | None = None) -> Condition:
    """Parse one condition; raise ConditionSyntaxError naming the 1-based column at fault.

    ``known_metrics`` (when given) makes an unknown metric name an error at its column.
    """
    if not isinstance(text, str):
        raise ConditionSyntaxError(f"a condition must be text, not {type(text).__name__}", column=1)
    tokens = _tokenize(text)
    end_col = len(text.rstrip()) + 1
    i = 0

    def expect(kind: str, what: str) -> _Tok:
        nonlocal i
        if i >= len(tokens):
            raise ConditionSyntaxError(f"expected {what} at the end", column=end_col)
        tok = tokens[i]
        if tok.kind != kind:
            raise ConditionSyntaxError(f"expected {what}, found {tok.text!r}", column=tok.col)
        i += 1
        return tok

    if not tokens:
        raise ConditionSyntaxError("empty condition; write e.g. 'error_rate_pct > 1 for 5m'", column=1)
    metric_tok = expect("word", "a metric name")
    if metric_tok.text in ("for", "over", "baseline"):
        raise ConditionSyntaxError(f"expected a metric name, found keyword {metric_tok.text!r}", column=metric_tok.col)
    if known_metrics is not None and metric_tok.text not in known_metrics:
        from bot.runbook.suggest import did_you_mean

        raise ConditionSyntaxError(
            f"unknown metric {metric_tok.text!r}{did_you_mean(metric_tok.text, known_metrics)}",
            column=metric_tok.col,
        )
    op_tok = expect("op", "a comparison (>, >=, <, <=, ==, !=)")
    threshold = _parse_threshold(tokens, i, end_col)
    i = threshold[1]
    mode: Mode = "latest"
    window: timedelta | None = None
    if i < len(tokens):
        kw = tokens[i]
        if kw.kind != "word" or kw.text not in ("for", "over"):
            raise ConditionSyntaxError(f"expected 'for' or 'over', found {kw.text!r}", column=kw.col)
        i += 1
        mode = "for" if kw.text == "for" else "over"
        window, i = _parse_window(tokens, i, end_col, text)
    if i < len(tokens):
        raise ConditionSyntaxError(f"unexpected {tokens[i].text!r} after the condition", column=tokens[i].col)
    return Condition(
        metric=metric_tok.text,
        op=op_tok.text,  # type: ignore[arg-type]
        threshold=threshold[0],
        mode=mode,
        window=window,
        text=text.strip(),
    )


def _number(tok: _Tok) -> float:
    value = float(tok.text)
    if not math.isfinite(value):  # a long enough digit run reads as infinity
        raise ConditionSyntaxError(f"the number {_short(tok.text)} is too large for a threshold", column=tok.col)
    return value


def _short(text: str) -> str:
    return text if len(text) <= 20 else f"{text[:8]}...{text[-4:]} ({len(text)} digits)"


def _parse_threshold(tokens: list[_Tok], i: int, end_col: int) -> tuple[Threshold, int]:
    if i >= len(tokens):
        raise ConditionSyntaxError("expected a number or 'baseline' at the end", column=end_col)
    tok = tokens[i]
    if tok.kind == "sign" and tok.text == "-" and i + 1 < len(tokens) and tokens[i + 1].kind == "num":
        return Threshold(-_number(tokens[i + 1])), i + 2
    if tok.kind == "num":
        return Threshold(_number(tok)), i + 1
    if tok.kind == "word" and tok.text == "baseline":
        i += 1
        if i < len(tokens) and tokens[i].kind == "sign":
            sign = -1.0 if tokens[i].text == "-" else 1.0
            i += 1
            if i >= len(tokens) or tokens[i].kind != "num":
                col = tokens[i].col if i < len(tokens) else end_col
                raise ConditionSyntaxError("expected a number after 'baseline +/-'", column=col)
            return Threshold(sign * _number(tokens[i]), relative_to_baseline=True), i + 1
        return Threshold(0.0, relative_to_baseline=True), i
    raise ConditionSyntaxError(f"expected a number or 'baseline', found {tok.text!r}", column=tok.col)


def _parse_window(tokens: list[_Tok], i: int, end_col: int, text: str) -> tuple[timedelta, int]:
    if i >= len(tokens):
        raise ConditionSyntaxError("expected a duration such as 5m at the end", column=end_col)
    start = tokens[i]
    # A duration like "1h30m" tokenizes as num+word pieces; glue adjacent pieces back together.
    pieces: list[str] = []
    j = i
    while j < len(tokens) and tokens[j].kind in ("num", "word"):
        pieces.append(tokens[j].text)
        j += 1
        if j < len(tokens) and tokens[j].col != tokens[j - 1].col + len(tokens[j - 1].text):
            break
    raw = "".join(pieces)
    try:
        return parse_duration(raw), j
    except (ValueError, OverflowError) as exc:
        raise ConditionSyntaxError(str(exc), column=start.col) from None
