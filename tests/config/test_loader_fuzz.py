"""Property tests: whatever YAML the loader is given, it answers with settings or with
ConfigError problems naming the file (and `check` with exit 78) -- never another exception."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorpoll.cli import main
from sensorpoll.config import ConfigError, Settings, parse_settings
from sensorpoll.drivers import registry
from sensorpoll.export.checks import metric_checks

DEMO = yaml.safe_load((Path(__file__).parents[2] / "config" / "demo.yaml").read_text())
PROBLEM = re.compile(r"^fuzz\.yaml(:\d+)?: .+")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1s", "250ms", "-1s", "0", "${HOME}", "${NOPE_UNSET}", "sine", "modbus"]),
)
yaml_data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.sampled_from(["devices", "name", "fields"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def check(text: str) -> None:
    try:
        result = parse_settings(
            text, "fuzz.yaml", registry.config_model, env={}, extra_checks=metric_checks()
        )
    except ConfigError as exc:
        problems = exc.problems
    else:
        assert isinstance(result, Settings)
        return
    assert problems
    for problem in problems:
        assert PROBLEM.match(str(problem)), str(problem)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_settings_or_config_error(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(yaml_data)
def test_random_yaml_structures_give_settings_or_config_error(data: Any) -> None:
    check(yaml.safe_dump(data, allow_unicode=True))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


ALL_PATHS = _paths(DEMO)[1:]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), yaml_data), min_size=1, max_size=3))
def test_a_valid_config_with_random_values_swapped_in_never_crashes(
    edits: list[tuple[tuple[Any, ...], Any]],
) -> None:
    config = copy.deepcopy(DEMO)
    for path, value in edits:
        node = config
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the parent
    check(yaml.safe_dump(config, allow_unicode=True))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(st.text(max_size=100), yaml_data.map(yaml.safe_dump)))
def test_check_exits_78_with_messages_and_no_traceback(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert code in (0, 78)
    if code == 78:
        lines = err.splitlines()
        assert lines[-1].startswith("configuration invalid:")
        assert all(line.startswith(str(path)) for line in lines[:-1])
