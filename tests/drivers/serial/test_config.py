"""What the config loader accepts and rejects for `driver: serial` devices."""

from __future__ import annotations

import textwrap
from typing import Literal

import pytest

from sensorpoll.config.errors import ConfigError
from sensorpoll.config.loader import parse_settings
from sensorpoll.config.schema import BusSpec, DeviceConfig
from sensorpoll.drivers import registry
from sensorpoll.drivers.base import ReportWarning
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
    assert report[0].startswith("serial bus /dev/ttyUSB0 (300 8N1): 1 device, ~")
    assert isinstance(report[1], ReportWarning)
    assert report[1].startswith("serial bus /dev/ttyUSB0")


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


def tcp_device(body: str) -> str:
    return device("transport: tcp\nhost: 10.0.0.40\nport: 5025\n" + textwrap.dedent(body))


DMM = 'command: "MEAS:VOLT:DC?\\n"\nfields: [{name: dc_voltage, unit: volts}]\n'


def test_a_tcp_instrument_is_on_the_line_of_its_host_and_port() -> None:
    found = only_device(tcp_device(DMM))
    assert (found.line_name, found.bus().key) == ("10.0.0.40:5025", "tcp:10.0.0.40:5025")


def test_a_tcp_port_from_the_environment_is_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMM_PORT", "5026")
    text = device('transport: tcp\nhost: 10.0.0.40\nport: "${DMM_PORT}"\n' + DMM)
    assert only_device(text).port == 5026


def test_transport_tcp_needs_a_host() -> None:
    assert "transport tcp needs host" in problems(device("transport: tcp\nport: 5025\n" + DMM))


def test_a_tcp_port_must_be_a_number() -> None:
    text = device("transport: tcp\nhost: dmm\nport: /dev/ttyUSB0\n" + DMM)
    assert "port is a TCP port number such as 5025, not '/dev/ttyUSB0'" in problems(text)


def test_line_settings_with_transport_tcp_are_a_config_error() -> None:
    assert "baudrate: line settings are set on the device server" in problems(
        tcp_device(DMM + "baudrate: 19200\n")
    )


def test_a_host_without_transport_tcp_is_a_config_error() -> None:
    text = device("host: 10.0.0.40\nport: /dev/ttyUSB0\n" + DMM)
    assert "host is for transport tcp" in problems(text)


def test_a_number_as_a_serial_port_points_at_transport_tcp() -> None:
    assert "set transport: tcp and host" in problems(device("port: 5025\n" + DMM))


@pytest.mark.parametrize("url", ["socket://10.0.0.5:4001", "rfc2217://10.0.0.5:4001"])
def test_pyserial_network_urls_are_rejected_pointing_at_transport_tcp(url: str) -> None:
    message = problems(device(f"port: {url}\n" + DMM))
    assert "URLs are not supported" in message
    assert "use transport: tcp with host and port" in message


CRYO = """\
port: /dev/ttyUSB1
queries:
  - {command: "KRDG? A\\r\\n", parse: '(?P<a>[-+\\d.E]+)', fields: [{name: a, unit: kelvin}]}
  - {command: "KRDG? B\\r\\n", parse: '(?P<b>[-+\\d.E]+)', fields: [{name: b, unit: kelvin}]}
"""


def test_the_fields_of_a_device_with_queries_are_its_queries_fields() -> None:
    found = only_device(device(CRYO))
    assert [f.name for f in found.fields] == ["a", "b"]
    assert [q.command for q in found.all_queries] == ["KRDG? A\r\n", "KRDG? B\r\n"]


def test_a_single_command_is_shorthand_for_one_query() -> None:
    (query,) = only_device(device(GAUGE)).all_queries
    assert (query.command, [f.name for f in query.fields]) == ("P?\r", ["pressure"])


def test_queries_and_a_top_level_command_are_a_config_error() -> None:
    assert "command: with queries, each query gives its own" in problems(
        device(CRYO + 'command: "X?"\n')
    )


def test_a_device_needs_command_or_queries() -> None:
    assert "give command (with its fields) or queries" in problems(
        device("port: /dev/ttyUSB0\nfields: [{name: x}]\n")
    )


def test_one_field_name_in_two_queries_is_a_config_error() -> None:
    text = device(CRYO.replace("(?P<b>", "(?P<a>").replace("name: b,", "name: a,"))
    assert "field name 'a' is used in two queries" in problems(text)


def test_a_query_field_mistake_is_reported_inside_its_query() -> None:
    text = device(CRYO.replace("(?P<b>", "(?P<c>"))
    assert "devices[0].queries[1]: " in problems(text)
    assert "no named group for field(s) b" in problems(text)


def test_then_without_expect_is_a_config_error() -> None:
    text = device(
        CRYO.replace('{command: "KRDG? A\\r\\n",', '{command: "KRDG? A\\r\\n", then: "\\x05",')
    )
    assert "then needs expect" in problems(text)


def test_a_query_text_the_encoding_cannot_carry_is_a_config_error() -> None:
    text = device(CRYO.replace('"KRDG? B', '"KRDG? Ä'))
    assert "queries[1].command: 'KRDG? Ä\\r\\n' cannot be encoded as ascii" in problems(text)


def test_check_reports_the_queries_of_each_line() -> None:
    settings = settings_from(
        device(CRYO + "check_errors: true\n")
        + "  - {name: dmm, driver: serial, transport: tcp, host: 10.0.0.40, port: 5025,\n"
        "     command: 'MEAS?', fields: [{name: v}]}\n"
    )
    devices = [d for d in settings.devices if isinstance(d, SerialConfig)]
    report = SerialDriver.check_report(devices, settings)
    assert "transfer per cycle for 3 queries" in report[0]  # two queries and SYST:ERR?
    assert report[1].startswith("tcp 10.0.0.40:5025: 1 device, 1 query per cycle")
    assert "set by the instrument" in report[1]


def test_a_host_port_used_by_a_modbus_gateway_and_an_ascii_instrument_is_a_config_error() -> None:
    yaml_text = tcp_device(DMM) + (
        "  - {name: pump, driver: modbus, transport: rtu-over-tcp, host: 10.0.0.40,\n"
        "     port: 5025, unit_id: 1, fields: [{name: speed, address: 0}]}\n"
    )
    assert "tcp:10.0.0.40:5025 is used as modbus-rtu here but as ascii-instrument" in problems(
        yaml_text
    )
