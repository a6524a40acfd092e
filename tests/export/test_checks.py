"""Config rules from the exposition: one metric family, one unit, one kind, one label set."""

from __future__ import annotations

import pytest

from sensorpoll.config import ConfigError
from tests.export.helpers import settings_from


def problems(devices: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from(f"metrics: {{namespace: lab}}\ndevices:\n{devices}")
    return [str(p) for p in caught.value.problems]


def test_two_fields_making_one_metric_with_different_units_are_rejected() -> None:
    found = problems(
        """\
  - name: a
    driver: simulated
    fields: [{name: temperature, unit: celsius, value: 1}]
  - name: b
    driver: simulated
    fields: [{name: temperature_celsius, value: 1}]
"""
    )
    assert found == [
        "config.yaml:8: devices[1].fields[0].unit: metric lab_temperature_celsius has unit none "
        "here but celsius at devices[0].fields[0]; one metric needs one unit"
    ]


def test_two_fields_making_one_metric_with_different_label_sets_are_rejected() -> None:
    found = problems(
        """\
  - name: a
    driver: simulated
    labels: {room: b12}
    fields: [{name: temperature, value: 1}]
  - name: b
    driver: simulated
    fields: [{name: temperature, value: 1, labels: {probe: top}}]
"""
    )
    assert len(found) == 1
    assert found[0].startswith(
        "config.yaml:9: devices[1].fields[0]: metric lab_temperature has labels"
    )
    assert "one metric needs one label set" in found[0]


def test_a_string_and_a_number_making_one_metric_are_rejected() -> None:
    found = problems(
        """\
  - name: a
    driver: simulated
    fields: [{name: model_info, value: 1}, {name: model, value: text}]
"""
    )
    assert found == [
        "config.yaml:5: devices[0].fields[1]: metric lab_model_info is a string here but a "
        "number at devices[0].fields[0]"
    ]


def test_a_string_field_whose_text_label_is_already_a_label_is_rejected() -> None:
    found = problems(
        """\
  - name: a
    driver: simulated
    labels: {room: b12}
    fields: [{name: room, value: text}]
"""
    )
    assert len(found) == 1
    assert (
        "devices[0].fields[0].name: string field 'room' puts its text in label 'room'" in found[0]
    )


def test_the_same_field_on_many_devices_with_one_unit_and_label_set_is_fine() -> None:
    settings = settings_from(
        """\
devices:
  - {name: a, driver: simulated, labels: {room: x}, fields: [{name: t, unit: celsius, value: 1}]}
  - {name: b, driver: simulated, labels: {room: y}, fields: [{name: t, unit: celsius, value: 2}]}
"""
    )
    assert len(settings.devices) == 2
