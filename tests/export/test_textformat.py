"""Label escaping and number formatting read back exactly by Prometheus's parsers."""

from __future__ import annotations

import math
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.export.textformat import (
    escape_label_value,
    format_sample_value,
    format_sample_values,
)
from tests.conftest import require_tool

TRICKY_TEXT = ['say "hi"', "back\\slash", "two\nlines", 'all \\" \n\\n', "ünïcødé ✓", "", "}{,="]
TRICKY_NUMBERS = [
    0.0,
    -0.0,
    1.0,
    -2.5,
    0.1,
    1e-05,
    1.5e20,
    5e-324,
    1.7976931348623157e308,
    2**53 + 1,
    -(2**63),
    123,
    True,
    False,
    math.inf,
    -math.inf,
    math.nan,
]


def exposition(values: list[float | int | bool], texts: list[str]) -> str:
    lines = ["# HELP t_value a gauge", "# TYPE t_value gauge"]
    texts = texts or [""]
    for i, value in enumerate(values):
        label = escape_label_value(texts[i % len(texts)])
        lines.append(f't_value{{i="{i}",text="{label}"}} {format_sample_value(value)}')
    return "\n".join(lines) + "\n"


def same(parsed: float, value: float | int | bool) -> bool:
    if isinstance(value, int):  # the parser keeps integers exact; Prometheus makes them float64
        return parsed == int(value)
    if math.isnan(value):
        return math.isnan(parsed)
    return parsed == value and math.copysign(1, parsed) == math.copysign(1, value)


def assert_round_trip(samples: list, values: list, texts: list[str]) -> None:
    assert len(samples) == len(values)
    texts = texts or [""]
    for i, sample in enumerate(samples):
        assert sample.labels["text"] == texts[i % len(texts)]
        assert same(sample.value, values[i]), (sample.value, values[i])


def test_label_values_and_numbers_round_trip_through_the_text_parser() -> None:
    text = exposition(TRICKY_NUMBERS, TRICKY_TEXT)
    (family,) = parse_text(text)
    assert_round_trip(family.samples, TRICKY_NUMBERS, TRICKY_TEXT)


def test_label_values_and_numbers_round_trip_through_the_openmetrics_parser() -> None:
    text = exposition(TRICKY_NUMBERS, TRICKY_TEXT) + "# EOF\n"
    (family,) = parse_openmetrics(text)
    assert_round_trip(family.samples, TRICKY_NUMBERS, TRICKY_TEXT)


def test_promtool_accepts_escaped_labels_and_special_values(tmp_path) -> None:
    promtool = require_tool("promtool")
    text = exposition(TRICKY_NUMBERS, TRICKY_TEXT)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == b""


def test_batch_formatting_matches_one_by_one_for_every_kind_of_value() -> None:
    values = [*TRICKY_NUMBERS, None, 2**70]
    expected = [b"null" if v is None else format_sample_value(v).encode() for v in values]
    assert format_sample_values(values) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**63), 2**63 - 1),
        min_size=1,
        max_size=20,
    ),
    st.lists(st.text(), min_size=1, max_size=5),
)
def test_any_float_and_label_text_survive_the_parser(values: list, texts: list[str]) -> None:
    formatted = format_sample_values(values)
    lines = ["# TYPE t_value gauge"]
    for i, text in enumerate(formatted):
        label = escape_label_value(texts[i % len(texts)])
        lines.append(f't_value{{i="{i}",text="{label}"}} {text.decode()}')
    (family,) = parse_text("\n".join(lines) + "\n")
    assert_round_trip(family.samples, values, texts)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats() | st.integers(-(2**70), 2**70) | st.booleans() | st.none(),
        max_size=30,
    )
)
def test_batch_formatting_means_the_same_numbers_as_formatting_each_value(values: list) -> None:
    # the text may differ (`1e-7` or `1e-07`), the number it parses to may not
    def parsed(text: bytes) -> float | int | None:
        if text == b"null":
            return None
        number = float(text)
        return int(text) if text.lstrip(b"-").isdigit() else number

    batch = [parsed(text) for text in format_sample_values(values)]
    one_by_one = [None if v is None else parsed(format_sample_value(v).encode()) for v in values]
    assert len(batch) == len(values)
    for got, expected in zip(batch, one_by_one, strict=True):
        assert got == expected or (got != got and expected != expected)  # NaN: itself
