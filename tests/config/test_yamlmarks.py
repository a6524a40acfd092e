"""The YAML event builder: anchors, aliases, merge keys, documents and tags, each either built
as YAML means it or refused with a problem naming its line."""

from __future__ import annotations

from typing import Any

import pytest

from sensorpoll.config.yamlmarks import YamlProblem, load_yaml


def data(text: str) -> Any:
    return load_yaml(text, {})[0]


def problems(text: str) -> list[tuple[int | None, str]]:
    """Every problem `text` has, as (line, message)."""
    try:
        load_yaml(text, {})
    except YamlProblem as problem:
        return [(problem.line, problem.message)]
    except ExceptionGroup as group:
        return [(p.line, p.message) for p in group.exceptions if isinstance(p, YamlProblem)]
    raise AssertionError(f"no problem in {text!r}")


def test_an_alias_repeats_the_anchored_value() -> None:
    assert data("a: &labels {room: b12}\nb: *labels\nc: [&n 3, *n]\n") == {
        "a": {"room": "b12"},
        "b": {"room": "b12"},
        "c": [3, 3],
    }


def test_an_alias_to_an_anchor_not_defined_before_it_is_refused() -> None:
    assert problems("a: *later\nb: &later 1\n") == [(1, "undefined alias *later")]


def test_a_recursive_alias_is_refused() -> None:
    assert problems("a: &loop [*loop]\n") == [(1, "undefined alias *loop")]


def test_a_merge_key_fills_in_only_the_keys_the_mapping_does_not_set() -> None:
    text = "x-defaults: &d {timeout: 1s, latency: 5ms}\ndevice:\n  <<: *d\n  timeout: 2s\n"
    assert data(text)["device"] == {"timeout": "2s", "latency": "5ms"}


def test_of_several_merged_mappings_the_earlier_wins() -> None:
    text = "a: &a {p: 1}\nb: &b {p: 2, q: 2}\nm: {<<: [*a, *b]}\n"
    assert data(text)["m"] == {"p": 1, "q": 2}


def test_a_merge_key_in_a_list_item_merges_into_that_item() -> None:
    assert data("- &x {a: 1}\n- <<: *x\n  b: 2\n") == [{"a": 1}, {"a": 1, "b": 2}]


def test_merging_something_other_than_a_mapping_is_refused_at_its_line() -> None:
    assert problems("n: &n 3\nm:\n  <<: *n\n") == [(3, "`<<` must merge a mapping")]


def test_a_second_document_is_refused_at_its_line() -> None:
    assert problems("interval: 1s\n---\ninterval: 2s\n") == [
        (2, "only one YAML document is allowed in a config")
    ]


def test_an_explicit_document_start_and_end_make_one_document() -> None:
    assert data("---\ninterval: 1s\n...\n") == {"interval": "1s"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!timestamp 2026-03-01", "!!timestamp"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [a: 1]", "!!omap"),
        ("!!python/object:os.system x", "!!python/object:os.system"),
        ("!celsius 21.5", "!celsius"),
        ("!thing {a: 1}", "!thing"),
        ("!things [1]", "!things"),
    ],
)
def test_a_tag_for_anything_but_plain_data_is_refused_by_name(value: str, shown: str) -> None:
    ((line, message),) = problems(f"devices:\n  - a: {value}\n")
    assert line == 2
    assert message.startswith(f"unsupported tag {shown}: a config holds strings, numbers")


def test_the_bool_tag_takes_only_true_or_false() -> None:
    assert data("a: !!bool false\n") == {"a": False}
    assert problems("a: !!bool yes\n") == [(1, "!!bool 'yes': only true or false")]


def test_plain_data_tags_convert_as_yaml_says() -> None:
    text = "a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!null ''\ne: !!map {x: 1}\nf: !!seq [1]\n"
    assert data(text) == {"a": "5", "b": 7, "c": 1.0, "d": None, "e": {"x": 1}, "f": [1]}


def test_dates_and_yaml_1_1_booleans_stay_strings() -> None:
    assert data("installed: 2026-03-01\nparity: no\nmode: on\n") == {
        "installed": "2026-03-01",
        "parity": "no",
        "mode": "on",
    }


def test_lines_are_those_of_the_keys_as_written() -> None:
    _, lines = load_yaml("a: &x\n  p: 1\nb: *x\nc:\n  - 1\n  - q: 2\n", {}, lines=True)
    assert {path: lines[path] for path in [("a",), ("a", "p"), ("b",), ("c", 1, "q")]} == {
        ("a",): 1,
        ("a", "p"): 2,
        ("b",): 3,
        ("c", 1, "q"): 6,
    }
