"""Fuzzing from the configs users start from: every example config and test case, mutated the
ways hand edits and broken tools mutate files (lines deleted, values swapped for other types,
the file cut short, huge values, deep nesting, aliases). `check` answers each one with exit 0
or 78 and messages, never a traceback, and within a bound."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorpoll.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    [*(REPO / "config").glob("*.yaml"), *(REPO / "tests" / "cases").glob("*/config.yaml")]
)
TEXTS = [path.read_text() for path in EXAMPLES]
_VALUE = re.compile(r"^(\s*(?:- )?[A-Za-z_][\w-]*: )(\S.*)$")

REPLACEMENTS = [
    "[]",
    "{}",
    "null",
    "true",
    "-1",
    "0",
    "1e308",
    "-1e400",
    str(2**200),
    "'" + "x" * 10_000 + "'",
    '"${NOT_SET_ANYWHERE}"',
    '"' + "${" * 2_000 + '"',
    "!!binary aGVsbG8=",
    "!!timestamp 2026-03-01",
    "!thing 3",
    "*undefined",
    "[" * 100 + "]" * 100,
    "{a: {b: {c: {d: [1, [2, [3, [4]]]]}}}}",
    "*l8",  # the alias bomb's last level, when the mutation put one at the top
]
BOMB = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
BOMB += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]


def mutate(text: str, kind: str, where: int, replacement: str) -> str:
    lines = text.splitlines()
    line = where % max(1, len(lines))
    if kind == "delete_line" and lines:
        del lines[line]
    elif kind == "truncate":
        return text[: where % max(1, len(text))]
    elif kind == "swap_value":
        values = [i for i, x in enumerate(lines) if _VALUE.match(x)]
        if values:
            i = values[where % len(values)]
            match = _VALUE.match(lines[i])
            assert match is not None
            lines[i] = match.group(1) + replacement
    elif kind == "duplicate_line" and lines:
        lines.insert(line, lines[line])
    elif kind == "indent_line" and lines:
        lines[line] = "   " + lines[line]
    elif kind == "alias_bomb":
        lines = ["x-bomb:", *(f"  {x}" for x in BOMB), *lines]
        return mutate("\n".join(lines) + "\n", "swap_value", where, "*l8")
    return "\n".join(lines) + "\n"


KINDS = ["delete_line", "truncate", "swap_value", "duplicate_line", "indent_line", "alias_bomb"]


@settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.sampled_from(TEXTS),
    mutations=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.integers(min_value=0, max_value=10**6),
            st.sampled_from(REPLACEMENTS),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_check_of_a_mutated_example_exits_0_or_78_without_a_traceback(
    text: str,
    mutations: list[tuple[str, int, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENSORPOLL_CASE_SUFFIX", "b12")  # what the cases' configs refer to
    for kind, where, replacement in mutations:
        text = mutate(text, kind, where, replacement)
    path = tmp_path / "mutated.yaml"
    path.write_text(text)
    code = main(["check", "-c", str(path)])  # an exception here fails the test
    out, err = capsys.readouterr()
    assert code in (0, 78)
    assert "Traceback" not in out + err
    if code == 78:
        lines = err.splitlines()
        assert lines[-1].startswith("configuration invalid:")
        assert all(line.startswith(str(path)) for line in lines[:-1]), lines[:3]
