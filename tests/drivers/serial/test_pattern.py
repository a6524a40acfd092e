"""The simulator's regex renderer: the text a `parse` regex matches, values in its groups."""

from __future__ import annotations

import re

import pytest

from sensorpoll.drivers.serial.pattern import PatternError, Template


@pytest.mark.parametrize(
    "pattern",
    [
        r"T=(?P<v>\S+) C",
        r"(?P<v>[+-]?\d+)\s?(?:mbar|Pa)",
        r"^\x02P(?P<v>\d+)\x03$",
        r"[A-Z]{3}: *(?P<v>\S+) [^0-9]+",
        r"(?:OK|ERR),(?P<v>-?\d*\.?\d+)(?:,.*)?",
        r"(?i)val=(?P<v>\d+)",
        r"(?P<q>['\"])(?P<v>\d+)(?P=q)",
        r"(a)(b)\2\1=(?P<v>\d+)",
        r"(?=\d)(?P<v>\d+)(?!x)",
        r"\101\t(?P<v>\d+)\u0041",
        r"x{2,}y{,3}z{3}(?P<v>\d+)\{1",
        r"[]a]+:(?P<v>\d+)",
        r"(?#comment)(?P<v>\d+?)",
    ],
)
def test_the_rendered_text_matches_with_the_value_in_its_group(pattern: str) -> None:
    text = Template(pattern).render({"v": "12"})
    match = re.fullmatch(pattern, text)
    assert match is not None, text
    assert match.group("v") == "12"


def test_an_optional_part_carrying_a_value_is_printed() -> None:
    text = Template(r"(?P<a>\d+)(?:,(?P<b>\d+))?").render({"a": "1", "b": "2"})
    assert text == "1,2"


def test_the_alternative_holding_the_group_is_taken() -> None:
    assert Template(r"ERR|OK (?P<v>\d+)").render({"v": "7"}) == "OK 7"


def test_a_construct_it_does_not_know_is_a_pattern_error() -> None:
    with pytest.raises(PatternError, match=r"\(\?\("):
        Template(r"(a)?(?(1)b|c)(?P<v>\d)")
