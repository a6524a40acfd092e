"""The config reference: every key described, and docs/configuration.md generated from it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter

from sensorpoll.config.jsonschema import config_json_schema
from sensorpoll.config.types import Duration, PositiveDuration
from sensorpoll.drivers import registry
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from config_reference import reference

DOC = REPO / "docs" / "configuration.md"
# what a key typed Duration says of itself: not a description of the key
TYPE_DESCRIPTIONS = {
    TypeAdapter(kind).json_schema().get("description") for kind in (Duration, PositiveDuration)
}


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) of every object in `node`, $defs included."""
    if isinstance(node, dict):
        for key, prop in (node.get("properties") or {}).items():
            yield f"{path}.{key}", prop
        for key, value in node.items():
            yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from properties(value, f"{path}[{i}]")


def test_every_key_of_every_driver_has_a_description() -> None:
    schema = config_json_schema([registry.config_model(n) for n in registry.BUILTIN])
    found = list(properties(schema))
    assert len(found) > 90
    missing = sorted(
        path for path, prop in found if prop.get("description") in (None, "", *TYPE_DESCRIPTIONS)
    )
    assert missing == [], "add Field(description=...) to these keys"


def test_the_configuration_reference_is_up_to_date() -> None:
    assert DOC.read_text() == reference(), (
        "docs/configuration.md is out of date: python tools/config_reference.py > "
        "docs/configuration.md"
    )
