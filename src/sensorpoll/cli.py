"""Command line: parses arguments, maps outcomes to exit codes, calls into the parts.

Exit codes: 0 ok, 1 a device failed (`once`), 2 usage error, 78 configuration error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensorpoll import __version__, simulate
from sensorpoll.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings
from sensorpoll.config.jsonschema import config_json_schema
from sensorpoll.config.schema import DeviceConfig, EventLoopChoice, parse_listen
from sensorpoll.config.types import format_duration, parse_duration
from sensorpoll.daemon import eventloop
from sensorpoll.daemon.devices import Devices
from sensorpoll.daemon.journal import ERR_PREFIX, log_formatter, stderr_is_journal
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.daemon.service import Daemon, StartupError, run_daemon
from sensorpoll.drivers import registry
from sensorpoll.drivers.base import ReportWarning
from sensorpoll.export.checks import metric_checks
from sensorpoll.export.cyclejson import cycle_to_json
from sensorpoll.export.sinks import Sinks
from sensorpoll.export.table import render_table
from sensorpoll.export.units import unit_warnings
from sensorpoll.export.webconfig import load_web_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 78
EVENT_LOOPS: tuple[EventLoopChoice, ...] = ("auto", "uvloop", "asyncio")

log = logging.getLogger("sensorpoll")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(journal=stderr_is_journal()))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def load(path: Path) -> Settings:
    return load_settings(path, registry.config_model, extra_checks=metric_checks())


def _config_error(exc: ConfigError) -> int:
    # The problems are the message, not log records: printed as they are for a terminal, each
    # line at priority err for journald (else `journalctl -p err` shows only "Failed to start").
    prefix = ERR_PREFIX if stderr_is_journal() else ""
    count = len(exc.problems)
    summary = f"configuration invalid: {count} problem{'s' * (count != 1)}"
    for line in "\n".join([*map(str, exc.problems), summary]).split("\n"):
        print(prefix + line, file=sys.stderr)
    return EXIT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    # Imported here: aiohttp takes ~0.3 s to import, and only `run` serves HTTP.
    from sensorpoll.export.http import HttpExporter

    settings = load(args.config)
    sinks = Sinks(settings)
    last_reload = LastReload.at_start()
    exporter = HttpExporter(
        settings, listen=args.listen, sink_stats=sinks.stats, last_reload=last_reload
    )
    # sinks first: the exposition of a cycle then counts what the sinks dropped of it
    daemon = Daemon(settings, [sinks, exporter], lambda: load(args.config), last_reload=last_reload)
    try:
        run_daemon(daemon, event_loop(args, settings))
    except StartupError as exc:  # not a config error: systemd may retry (the port may free up)
        log.error("cannot start: %s", exc)
        return EXIT_FAILED
    return EXIT_OK


def device_summary(device: DeviceConfig, settings: Settings) -> str:
    """`modbus, timeout 0.5s[, every 10s][, template meter]` for `check`'s device list."""
    parts = [device.driver, f"timeout {settings.deadline(device):g}s"]
    if device.interval is not None:
        parts.append(f"every {format_duration(device.interval)}")
    if device.template is not None:
        parts.append(f"template {device.template}")
    return ", ".join(parts)


def cmd_check(args: argparse.Namespace) -> int:
    settings = load(args.config)
    web = load_web_config(settings.http.web_config) if settings.http.web_config else None
    print(f"{args.config}: valid")
    if web is not None:
        tls = "TLS on" if web.ssl_context is not None else "no TLS"
        print(f"{web.path}: valid, {tls}, {len(web.users)} basic auth users")
    print(
        f"interval {settings.interval:g}s, default timeout {settings.default_timeout:g}s, "
        f"http {settings.http.listen}, namespace {settings.metrics.namespace}"
    )
    count = len(settings.devices)
    print(f"{count} device{'s' * (count != 1)}:")
    for device in settings.devices:
        print(f"  {device.name} ({device_summary(device, settings)})")
        for field in device.fields:
            unit = f" [{field.unit}]" if field.unit else ""
            counter = " counter" if field.metric == "counter" else ""
            rate = field.poll_interval
            every = f", every {format_duration(rate)}" if rate is not None else ""
            print(f"    {field.name}{unit} {field.kind}{counter}{every}")
    by_driver: dict[str, list[Any]] = {}
    for device in settings.devices:
        by_driver.setdefault(device.driver, []).append(device)
    warnings = 0
    for name, devices in by_driver.items():
        for line in registry.driver_class(name).check_report(devices, settings):
            if isinstance(line, ReportWarning):
                warnings += 1
                print(f"warning: {line}")
            else:
                print(line)
    for warning in unit_warnings(settings):
        warnings += 1
        print(f"warning: {warning}")
    if warnings:
        print(f"{warnings} warning{'s' * (warnings != 1)}")
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    settings = load(args.config)
    if not args.verbose:
        # each failed device is a row of the output: its "is down" line would say it twice
        logging.getLogger("sensorpoll.poll").setLevel(logging.ERROR)

    async def poll() -> Any:
        devices = Devices(settings)
        try:
            await devices.open()
            return await devices.cycle()
        finally:
            await devices.aclose()

    cycle = eventloop.run(poll(), event_loop(args, settings))
    code = EXIT_FAILED if cycle.failed else EXIT_OK
    text = (
        cycle_to_json(cycle, indent=2) if args.format == "json" else render_table(cycle, settings)
    )
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `once | head`: the reader had enough; the poll's outcome stands
        _stdout_gone()
    return code


def cmd_probe(args: argparse.Namespace) -> int:
    # Imported here: probe loads pymodbus, which no other command needs for itself.
    from sensorpoll.drivers.modbus import probe

    return probe.run(args, eventloop.loop_factory(event_loop(args, None)))


def cmd_simulate(args: argparse.Namespace) -> int:
    settings = load(args.config)
    return simulate.run(settings, event_loop(args, settings))


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_json_schema(registry.config_models()), indent=2))
    return EXIT_OK


def event_loop(args: argparse.Namespace, settings: Settings | None) -> EventLoopChoice:
    """--event-loop if given, else the config's `event_loop`."""
    choice: EventLoopChoice | None = args.event_loop
    if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
        print("sensorpoll: --event-loop uvloop: uvloop is not installed here", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    if choice is None:
        choice = settings.event_loop if settings is not None else "auto"
    return choice


def _listen(value: str) -> str:
    try:
        parse_listen(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options that go before or after the command: on the top parser with their defaults, on
    each command with SUPPRESS, so one given after the command wins and one before it is not
    reset by the command's parser."""
    parser.add_argument(
        "--log-level",
        default="info" if top else argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="also log what the output already shows (once: each failed device)",
    )
    parser.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=None if top else argparse.SUPPRESS,
        help="uvloop where installed (auto), or asyncio's own; overrides event_loop",
    )


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    # Here, not in drivers/modbus/probe.py: importing that loads pymodbus, which only
    # `probe` itself (and a config with Modbus devices) needs.
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="Modbus TCP/UDP device or RTU-over-TCP gateway")
    where.add_argument("--serial", metavar="DEV", help="serial port, e.g. /dev/ttyUSB0")
    parser.add_argument("--port", type=int, default=502, help="TCP/UDP port (default: 502)")
    parser.add_argument(
        "--transport",
        choices=["tcp", "udp", "rtu-over-tcp", "rtu", "ascii"],
        help="how to speak Modbus (default: tcp with --host, rtu with --serial)",
    )
    parser.add_argument("--unit", type=int, default=1, help="unit id (default: 1)")
    parser.add_argument("--address", type=int, required=True, help="zero-based first address")
    parser.add_argument("--count", type=int, default=4, help="registers to read (default: 4)")
    parser.add_argument(
        "--table",
        choices=["holding", "input", "coil", "discrete"],
        default="holding",
        help="register table (default: holding)",
    )
    parser.add_argument(
        "--baudrate", type=int, default=19200, help="serial line speed (default: 19200)"
    )
    parser.add_argument(
        "--parity", choices=["N", "E", "O"], default="N", help="serial parity (default: N)"
    )
    parser.add_argument(
        "--stopbits", type=int, choices=[1, 2], default=1, help="serial stop bits (default: 1)"
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default=1.0,
        help="how long to wait for the answer: 500ms, 2s, ... (default: 1s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorpoll",
        description="Poll lab sensors and instruments on a fixed cycle; export to Prometheus.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sensorpoll {__version__}", help="print the version"
    )
    _add_global_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, top=False)
    with_config = argparse.ArgumentParser(add_help=False, parents=[common])
    with_config.add_argument(
        "-c",
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help=f"config file (default: {DEFAULT_CONFIG_PATH})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, parents: list[argparse.ArgumentParser], text: str) -> Any:
        return commands.add_parser(name, parents=parents, help=text, description=text)

    run = command("run", [with_config], "the daemon: poll forever and serve HTTP")
    run.add_argument("--listen", type=_listen, metavar="HOST:PORT", help="override http.listen")
    run.set_defaults(func=cmd_run)

    check = command(
        "check",
        [with_config],
        "validate the config; print devices, fields, request plans and bus load",
    )
    check.set_defaults(func=cmd_check)

    once = command("once", [with_config], "poll every device once, print the cycle, exit")
    once.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="a table for people (default) or the cycle JSON",
    )
    once.set_defaults(func=cmd_once)

    probe_command = command(
        "probe", [common], "read raw Modbus registers once and print every decoding side by side"
    )
    _add_probe_arguments(probe_command)
    probe_command.set_defaults(func=cmd_probe)

    simulate = command(
        "simulate",
        [with_config],
        "serve the config's Modbus devices and serial instruments as simulated ones",
    )
    simulate.set_defaults(func=cmd_simulate)

    schema = command("schema", [common], "print the JSON Schema of the config file")
    schema.set_defaults(func=cmd_schema)
    return parser


def _stdout_gone() -> None:
    """The reader closed our stdout: send the rest to /dev/null, so the interpreter's final
    flush does not fail with a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        return _config_error(exc)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `check | head`, `schema | head`: not an error of ours
        _stdout_gone()
        return EXIT_OK
    return result
