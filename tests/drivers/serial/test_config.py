"""What the config loader accepts and rejects for `driver: serial` devices."""

from __future__ import annotations

import textwrap
from typing import Literal

import pytest

from sensorpoll.config.errors import ConfigError
from sensorpoll.config.loader import parse_settings
from sensorpoll.config.schema import BusSpec, DeviceConfig
from sensorpoll.drivers import registry
from sensorpoll.drivers.serial import SerialDriver
from sensorpoll.drivers.serial.config import SerialConfig
from tests.drivers.serial.helpers import settings_from


def device(body: str) -> str:
    return "devices:\n  - name: gauge\n    driver: serial\n" + textwrap.indent(
        textwrap.dedent(body), "    "
    )


def problems(yaml_text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from(yaml_text)
    return str(caught.value)


def only_device(yaml_text: str) -> SerialConfig:
    found = settings_from(yaml_text).devices[0]
    assert isinstance(found, SerialConfig)
    return found


GAUGE = """\
port: /dev/ttyUSB0
command: "P?\\r"
fields: [{name: pressure, unit: pascal}]
"""


def test_a_single_field_device_needs_no_parse() -> None:
    assert only_device(device(GAUGE)).fields[0].name == "pressure"


@pytest.mark.parametrize(
    "spelling", ['command: "MEAS?\\r\\n"', "command: 'MEAS?\\r\\n'", "command: MEAS?\\r\\n"]
)
def test_escapes_mean_the_same_bytes_in_every_yaml_quoting(spelling: str) -> None:
    body = GAUGE.replace('command: "P?\\r"', spelling)
    assert only_device(device(body)).command == "MEAS?\r\n"


def test_an_unknown_escape_is_a_config_error() -> None:
    body = GAUGE.replace('command: "P?\\r"', "command: 'P?\\q'")
    assert "unknown escape \\q" in problems(device(body))


def test_unknown_keys_are_config_errors() -> None:
    assert "devices[0].baud: unknown key" in problems(device(GAUGE + "baud: 9600\n"))


def test_a_parse_regex_that_does_not_compile_is_a_config_error() -> None:
    text = problems(device(GAUGE + "parse: '(?P<pressure>[\\d.+'\n"))
    assert "test.yaml:2: devices[0]: parse: not a valid regular expression" in text


def test_a_field_without_a_named_group_is_a_config_error() -> None:
    text = problems(device(GAUGE + "parse: 'P=(?P<p>[\\d.]+)'\n"))
    assert "no named group for field(s) pressure" in text


def test_a_named_group_without_a_field_is_a_config_error() -> None:
    text = problems(device(GAUGE + "parse: '(?P<pressure>[\\d.]+) (?P<unit>\\w+)'\n"))
    assert "named group(s) unit match no field" in text


def test_split_needs_an_index_on_every_field() -> None:
    assert "every field needs index: pressure" in problems(device(GAUGE + "split: ','\n"))


def test_several_fields_need_parse_or_split() -> None:
    body = GAUGE.replace(
        "fields: [{name: pressure, unit: pascal}]", "fields: [{name: a}, {name: b}]"
    )
    assert "several fields need parse" in problems(device(body))


def test_scale_on_a_string_field_is_a_config_error() -> None:
    body = GAUGE.replace("{name: pressure, unit: pascal}", "{name: model, type: string, scale: 2}")
    assert "scale and offset apply to numbers" in problems(device(body))


def test_stopbits_must_be_one_one_and_a_half_or_two() -> None:
    assert "must be 1, 1.5 or 2" in problems(device(GAUGE + "stopbits: 3\n"))


def test_a_command_the_encoding_cannot_carry_is_a_config_error() -> None:
    assert "cannot be encoded as ascii" in problems(device(GAUGE + "init: ['GRÜN']\n"))


def test_devices_on_one_port_must_agree_on_line_settings() -> None:
    yaml_text = device(GAUGE + "baudrate: 9600\n") + (
        "  - {name: other, driver: serial, port: /dev/ttyUSB0, baudrate: 19200,\n"
        "     command: 'Q?', fields: [{name: q}]}\n"
    )
    assert "line settings differ" in problems(yaml_text)


class FakeRtuConfig(DeviceConfig):
    driver: Literal["fake-rtu"] = "fake-rtu"
    port: str

    def bus(self) -> BusSpec:
        return BusSpec(key=f"serial:{self.port}", protocol="modbus-rtu", settings=())


def test_a_port_used_by_a_modbus_device_and_an_ascii_device_is_a_config_error() -> None:
    yaml_text = device(GAUGE) + (
        "  - {name: pump, driver: fake-rtu, port: /dev/ttyUSB0, fields: [{name: speed}]}\n"
    )

    def models(name: str) -> type[DeviceConfig]:
        return FakeRtuConfig if name == "fake-rtu" else registry.config_model(name)

    with pytest.raises(ConfigError) as caught:
        parse_settings(yaml_text, "test.yaml", models)
    assert "used as modbus-rtu here but as ascii-instrument" in str(caught.value)


def test_check_reports_each_ports_line_time_and_warns_when_it_exceeds_the_deadline() -> None:
    slow = device(GAUGE + "baudrate: 300\n")  # 300 baud: ~1.2 s to send a command and reply
    settings = settings_from("interval: 2s\ntimeout: 1s\n" + slow)
    devices = [d for d in settings.devices if isinstance(d, SerialConfig)]
    report = SerialDriver.check_report(devices, settings)
    assert report[0].startswith("serial bus /dev/ttyUSB0 (300 8N1): 1 device(s), ~")
    assert report[1].startswith("warning: serial bus /dev/ttyUSB0")


def test_a_simulated_value_must_fit_the_fields_type() -> None:
    body = GAUGE.replace(
        "{name: pressure, unit: pascal}", "{name: ok, type: bool, simulate: {value: OK}}"
    )
    assert "simulate: value 'OK' does not fit type bool" in problems(device(body))


def test_a_fields_type_key_says_what_its_text_means() -> None:
    body = GAUGE.replace(
        "fields: [{name: pressure, unit: pascal}]", "fields: [{name: on, type: bool}]"
    )
    field = only_device(device(body)).fields[0]
    assert (field.value_kind, field.kind) == ("bool", "bool")


def test_the_internal_name_of_type_is_not_a_config_key() -> None:
    body = GAUGE.replace("unit: pascal", "value_kind: bool")
    assert "devices[0].fields[0].value_kind: unknown key" in problems(device(body))


def test_a_wrong_type_is_reported_under_the_key_the_user_wrote() -> None:
    body = GAUGE.replace("unit: pascal", "type: float32")
    assert "devices[0].fields[0].type:" in problems(device(body))
