"""Reply lines -> field values: `parse` regex, `split` columns, whole reply; and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial.config import SerialConfig
from sensorpoll.drivers.serial.reply import ReplyParser


def parser(**keys: Any) -> ReplyParser:
    base: dict[str, Any] = {"name": "d", "port": "/dev/null", "command": "M?\\n"}
    return ReplyParser(SerialConfig.model_validate({**base, **keys}).all_queries[0])


REGEX = parser(
    parse=r"T=(?P<t>\S+) (?P<unit>\w+) (?P<on>\w+)",
    fields=[{"name": "t"}, {"name": "unit", "type": "string"}, {"name": "on", "type": "bool"}],
)
SPLIT = parser(
    split=",",
    fields=[{"name": "a", "index": 0, "scale": 0.1, "offset": -40}, {"name": "b", "index": 2}],
)
WHOLE = parser(fields=[{"name": "v"}])


def test_named_groups_become_fields_of_their_types() -> None:
    assert REGEX.parse("T=21.5 C on\r") == {"t": 21.5, "unit": "C", "on": True}


def test_split_columns_are_picked_by_index_and_scaled() -> None:
    assert SPLIT.parse("600,x,7\r\n") == {"a": pytest.approx(20.0), "b": 7}


def test_a_whole_reply_is_the_value_of_a_single_field() -> None:
    assert WHOLE.parse(" +1.25E+02\r\n") == {"v": 125.0}


def test_integers_stay_integers_when_not_scaled() -> None:
    assert isinstance(WHOLE.parse("42")["v"], int)


@pytest.mark.parametrize("reply", ["nan", "inf", "1_000", "0x10", "1e999", ""])
def test_text_that_is_not_a_plain_decimal_number_is_a_parse_error(reply: str) -> None:
    with pytest.raises(ParseError):
        WHOLE.parse(reply)


def test_a_reply_the_regex_does_not_fully_match_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="does not match parse"):
        REGEX.parse("T=21.5 C on trailing")


def test_too_few_columns_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="has 2 columns, field b wants column 2"):
        SPLIT.parse("600,1")


def test_a_long_bad_reply_is_truncated_in_the_error() -> None:
    with pytest.raises(ParseError) as caught:
        WHOLE.parse("x" * 1000)
    assert "(1000 chars)" in str(caught.value)
    assert len(str(caught.value)) < 200


def _outcome(p: ReplyParser, reply: str) -> None:
    """The property: values of exportable types, or a ParseError with reason `parse`."""
    outcome: dict[str, object] | ParseError
    try:
        outcome = dict(p.parse(reply))
    except ParseError as exc:
        outcome = exc
    if isinstance(outcome, ParseError):
        assert outcome.reason == "parse"
    else:
        assert all(isinstance(v, int | float | str) for v in outcome.values())


@given(st.text())
def test_any_text_gives_values_or_a_parse_error_with_a_regex(reply: str) -> None:
    _outcome(REGEX, reply)


@given(st.lists(st.one_of(st.text(max_size=8), st.from_regex(r"-?\d+\.?\d*", fullmatch=True))))
def test_any_columns_give_values_or_a_parse_error_with_split(columns: list[str]) -> None:
    _outcome(SPLIT, ",".join(columns))


@given(st.binary())
def test_any_bytes_give_values_or_a_parse_error_whole(data: bytes) -> None:
    _outcome(WHOLE, data.decode("ascii", errors="replace"))
