"""How a ratio metric is written in the runbook: the one-call ``ratio`` form and the older pair."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.runbook.models import Metric
from tests.triggers.builders import RUN_REQUESTS, two_filter_ratio


def split(**ratio: Any) -> dict[str, Any]:
    body = {"filter": RUN_REQUESTS, "split_by": "metric.labels.response_code_class", "numerator_values": ["5xx"]}
    return {"id": "error_rate_pct", "title": "Error rate", "unit": "pct", "ratio": {**body, **ratio}}


def test_a_split_ratio_sums_on_the_server_and_is_one_query() -> None:
    metric = Metric.model_validate(split(aligner="ALIGN_RATE"))
    assert metric.ratio is not None
    assert metric.ratio.reducer == "REDUCE_SUM"
    assert metric.ratio.request_group_by == ["metric.labels.response_code_class"]
    assert metric.queries == (metric.ratio,)


def test_the_older_pair_is_still_accepted_and_is_two_queries() -> None:
    metric = Metric.model_validate(two_filter_ratio("availability_pct", invert=True))
    assert metric.invert_ratio and metric.ratio is None
    assert len(metric.queries) == 2


def test_the_split_label_is_read_from_the_metric_or_the_resource() -> None:
    by_class = Metric.model_validate(split()).ratio
    by_region = Metric.model_validate(split(split_by="resource.labels.location", numerator_values=["asia"])).ratio
    assert by_class is not None and by_region is not None
    assert by_class.label_of({"response_code_class": "5xx"}, {"location": "asia"}) == "5xx"
    assert by_region.label_of({"response_code_class": "5xx"}, {"location": "asia"}) == "asia"
    assert by_class.label_of({}, {}) is None


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (split(split_by="response_code_class"), "must be a label such as metric.labels"),
        (split(reducer="REDUCE_MEAN"), "reducer must add up"),
        (split(numerator_values=[]), "at least 1 item"),
        (
            split(filter=RUN_REQUESTS + ' AND metric.labels.response_code_class="5xx"'),
            "every request would count as an error",
        ),
        ({**split(), "query": {"filter": RUN_REQUESTS}}, "exactly one of 'query', 'ratio'"),
        ({**split(), **two_filter_ratio("error_rate_pct")}, "exactly one of 'query', 'ratio'"),
        ({**two_filter_ratio("error_rate_pct"), "denominator": None}, "needs both 'numerator' and 'denominator'"),
        ({"id": "x", "title": "X", "unit": "pct"}, "exactly one of 'query', 'ratio'"),
    ],
)
def test_a_ratio_written_wrongly_is_refused_with_a_reason(metric: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Metric.model_validate(metric)


def test_a_filter_excluding_another_class_is_not_mistaken_for_a_numerator_only_filter() -> None:
    metric = Metric.model_validate(split(filter=RUN_REQUESTS + ' AND metric.labels.response_code_class != "4xx"'))
    assert metric.ratio is not None
