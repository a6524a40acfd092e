"""sensorpoll against collectd's modbus plugin (C, libmodbus), side by side in one run: the same
20 loopback pymodbus slaves, polled every 250 ms by both at once, values compared, CPU per
request and per device read (from /proc/PID/stat) and RSS. A third client polls the same
slaves meanwhile: the least a Python poller can do (uvloop, one asyncio Protocol per slave,
the answers' registers unpacked; no deadlines, results or export), the floor under
sensorpoll's per-request figure on this machine (see docs/design.md, "What a request costs").

Each slave holds one 4-field device (float32, uint16, int32, int16 in 6 registers): sensorpoll
reads it in one request, collectd in four (one per <Data> block). sensorpoll asks unit 1,
collectd unit 2 and the floor client unit 3 (the same registers), so the slaves count each
client's requests. The slaves
run in a child process, so neither client's figure includes serving. Both keep their readings in
memory for a Prometheus scrape (collectd through its write_prometheus plugin, which needs
Debian's libmicrohttpd12 and libprotobuf-c1 beside collectd-core); neither is scraped until the
window is over. Targets: sensorpoll's CPU
per request <= 1.0x collectd's, per 4-field device read <= 0.4x.

    .venv/bin/python bench/peer_collectd.py [--seconds 60] [--devices 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sensorpoll.drivers.modbus.codec import encode
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage

INTERVAL = 0.25
# name, collectd RegisterType, our type, address, value
FIELDS = [
    ("temperature", "Float", "float32", 0, 21.5),
    ("status", "Uint16", "uint16", 2, 7),
    ("counter", "Int32", "int32", 3, 123456),
    ("pressure", "Int16", "int16", 5, -42),
]
SENSORPOLL_UNIT, COLLECTD_UNIT, FLOOR_UNIT = 1, 2, 3
REGISTERS = 6  # what FIELDS span: one request of sensorpoll's, one of the floor client's
TICKS = os.sysconf("SC_CLK_TCK")


class CountingImage(UnitImage):
    """A slave's registers that count the read requests it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | None:
        self.requests += 1
        return super().read(table, address, count)


async def serve(count: int) -> None:
    """Child process: `count` slaves; prints their ports, then per line on stdin the requests
    each client made so far (json), until stdin closes."""
    registers: list[int] = []
    for _, _, data_type, _, value in FIELDS:
        registers += encode(value, data_type)  # type: ignore[arg-type]
    images = []
    slaves = []
    for _ in range(count):
        ours, theirs, floor = CountingImage(), CountingImage(), CountingImage()
        for image in (ours, theirs, floor):
            image.set("holding", 0, registers)
        images.append((ours, theirs, floor))
        units = {SENSORPOLL_UNIT: ours, COLLECTD_UNIT: theirs, FLOOR_UNIT: floor}
        slaves.append(await SimulatedSlave.tcp(units))
    print(" ".join(str(s.port) for s in slaves), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        counts = {
            "sensorpoll": sum(o.requests for o, _, _ in images),
            "collectd": sum(t.requests for _, t, _ in images),
            "floor": sum(f.requests for _, _, f in images),
        }
        print(json.dumps(counts), flush=True)
    for slave in slaves:
        await slave.aclose()


def floor_client(ports: list[int]) -> None:
    """Child process: the least a Python poller can do here, the floor under sensorpoll's
    figure. On uvloop, one asyncio Protocol per slave; every INTERVAL one request to each, the
    answers' registers unpacked, all awaited; no deadlines, results, fields or export."""
    import uvloop  # a dependency of sensorpoll's, as its default loop

    request = struct.Struct(">HHHBBHH")
    registers = struct.Struct(f">{REGISTERS}H")

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.answer: asyncio.Future[tuple[int, ...]] | None = None
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            if self.answer is not None and not self.answer.done():
                self.answer.set_result(registers.unpack_from(data, 9))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        clients = [(await loop.create_connection(Client, "127.0.0.1", p))[1] for p in ports]
        expected = None
        tid, due = 0, loop.time()
        while True:
            tid = tid % 0xFFFF + 1
            for client in clients:
                assert client.transport is not None
                client.answer = loop.create_future()
                client.transport.write(request.pack(tid, 0, 6, FLOOR_UNIT, 3, 0, REGISTERS))
            answers = await asyncio.gather(*(c.answer for c in clients if c.answer))
            if expected is None:  # once: it reads what the others read
                expected = answers[0]
                assert all(answer == expected for answer in answers), answers
            due += INTERVAL
            await asyncio.sleep(max(0.0, due - loop.time()))

    uvloop.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sensorpoll_config(ports: list[int], listen: str) -> str:
    lines = [f"interval: {int(INTERVAL * 1000)}ms", "timeout: 200ms", f"http: {{listen: {listen}}}"]
    lines.append("devices:")
    for i, port in enumerate(ports):
        lines += [
            f"  - name: d{i}",
            "    driver: modbus",
            "    host: 127.0.0.1",
            f"    port: {port}",
            f"    unit_id: {SENSORPOLL_UNIT}",
            "    fields:",
        ]
        lines += [
            f"      - {{name: {name}, address: {address}, type: {data_type}}}"
            for name, _, data_type, address, _ in FIELDS
        ]
    return "\n".join(lines) + "\n"


def collectd_config(ports: list[int], base: Path, port: int) -> str:
    out = [
        f'BaseDir "{base}"',
        f'PIDFile "{base}/collectd.pid"',
        'PluginDir "/usr/lib/collectd"',
        'TypesDB "/usr/share/collectd/types.db"',
        'Hostname "bench"',
        "FQDNLookup false",
        f"Interval {INTERVAL}",
        "LoadPlugin logfile",
        '<Plugin logfile>\n  LogLevel "warning"\n  File STDERR\n</Plugin>',
        # Both serve their readings from memory over HTTP; csv would charge collectd a file
        # open, write and close per value that sensorpoll does not pay.
        "LoadPlugin write_prometheus",
        f'<Plugin write_prometheus>\n  Host "127.0.0.1"\n  Port "{port}"\n</Plugin>',
        "LoadPlugin modbus",
        "<Plugin modbus>",
    ]
    for name, register_type, _, address, _ in FIELDS:
        out += [
            f'  <Data "{name}">',
            f"    RegisterBase {address}",
            f"    RegisterType {register_type}",
            "    RegisterCmd ReadHolding",
            "    Type gauge",
            f'    Instance "{name}"',
            "  </Data>",
        ]
    for i, port in enumerate(ports):
        out += [
            f'  <Host "d{i}">',
            '    Address "127.0.0.1"',
            f'    Port "{port}"',
            f"    Interval {INTERVAL}",
            f"    <Slave {COLLECTD_UNIT}>",
            f'      Instance "d{i}"',
            *(f'      Collect "{name}"' for name, *_ in FIELDS),
            "    </Slave>",
            "  </Host>",
        ]
    out.append("</Plugin>")
    return "\n".join(out) + "\n"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def collectd_values(exporter: int) -> dict[str, dict[str, float]]:
    """The readings collectd's write_prometheus serves, per device."""
    url = f"http://127.0.0.1:{exporter}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    values: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "collectd_modbus_gauge":
                device = sample.labels["instance"]
                values.setdefault(device, {})[sample.labels["type"]] = sample.value
    return values


def sensorpoll_values(listen: str) -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(f"http://{listen}/api/v1/cycle", timeout=5) as answer:
        cycle = json.load(answer)
    return {d["device"]: d["values"] for d in cycle["devices"] if d["ok"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # /proc/PID/stat counts CPU in ticks of 10 ms, and sensorpoll spends ~0.4 s a minute here:
    # a minute keeps the tick's rounding to about 2.5% of the figure
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.floor:
        floor_client([int(p) for p in args.floor.split(",")])
        return
    collectd = shutil.which("collectd") or "/usr/sbin/collectd"
    if not os.path.exists(collectd):
        sys.exit("collectd is not installed (Debian: apt-get install collectd-core)")
    slaves = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.devices)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert slaves.stdout is not None
    assert slaves.stdin is not None

    def requests() -> dict[str, int]:
        assert slaves.stdout is not None
        assert slaves.stdin is not None
        slaves.stdin.write("\n")
        slaves.stdin.flush()
        counts: dict[str, int] = json.loads(slaves.stdout.readline())
        return counts

    with tempfile.TemporaryDirectory(prefix="peer-collectd-") as tmp:
        base = Path(tmp)
        ports = [int(p) for p in slaves.stdout.readline().split()]
        listen = f"127.0.0.1:{free_port()}"
        (base / "sensorpoll.yaml").write_text(sensorpoll_config(ports, listen))
        exporter = free_port()
        (base / "collectd.conf").write_text(collectd_config(ports, base, exporter))
        ours = subprocess.Popen(
            [sys.executable, "-m", "sensorpoll", "run", "-c", str(base / "sensorpoll.yaml")],
            stderr=subprocess.DEVNULL,
        )
        theirs = subprocess.Popen(
            [collectd, "-f", "-C", str(base / "collectd.conf")], stderr=subprocess.DEVNULL
        )
        floor = subprocess.Popen(
            [sys.executable, __file__, "--floor", ",".join(map(str, ports))],
        )
        clients = {"sensorpoll": ours, "collectd": theirs, "floor": floor}
        try:
            time.sleep(3.0)  # start-up, connections, imports: outside the measured window
            cpu_before = {name: cpu_seconds(p.pid) for name, p in clients.items()}
            count_before = requests()
            time.sleep(args.seconds)
            cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in clients.items()}
            if floor.poll() is not None:
                sys.exit(f"the floor client ended early (exit {floor.returncode})")
            count_after = requests()
            rss = {"sensorpoll": rss_mb(ours.pid), "collectd": rss_mb(theirs.pid)}
            got = {
                "sensorpoll": sensorpoll_values(listen),
                "collectd": collectd_values(exporter),
            }
        finally:
            for process in clients.values():
                process.terminate()
                process.wait(10)
            slaves.stdin.close()
            slaves.wait(10)
    expected = {name: float(value) for name, *_, value in FIELDS}
    print(
        f"{args.devices} loopback pymodbus slaves, 4 fields each, every {INTERVAL * 1000:g} ms, "
        f"{args.seconds:g} s measured, the three clients at once"
    )
    figures = {}
    for client, asks in (("sensorpoll", 1), ("collectd", len(FIELDS))):
        made = count_after[client] - count_before[client]
        reads = made / asks
        good = sum(1 for values in got[client].values() if values == expected)
        figures[client] = (cpu[client] / made, cpu[client] / reads)
        print(
            f"{client:10s}: {made:6d} requests ({asks}/device read), {reads:7.0f} device "
            f"reads, {cpu[client]:6.2f} s CPU, {figures[client][0] * 1e6:6.1f} us CPU/request, "
            f"{figures[client][1] * 1e6:6.1f} us CPU/device read, RSS {rss[client]:5.1f} MB, "
            f"values right on {good}/{args.devices} devices"
        )
    made = count_after["floor"] - count_before["floor"]
    floor_request = cpu["floor"] / made
    print(
        f"floor     : {made:6d} requests (1/device read), minimal Python client on uvloop "
        f"(no deadlines, results or export), {cpu['floor']:6.2f} s CPU, "
        f"{floor_request * 1e6:6.1f} us CPU/request"
    )
    per_request = figures["sensorpoll"][0] / figures["collectd"][0]
    per_read = figures["sensorpoll"][1] / figures["collectd"][1]
    print(
        f"ratio, CPU per request, sensorpoll vs collectd:     {per_request:.2f}x (target <= 1.0x)"
    )
    print(f"ratio, CPU per device read, sensorpoll vs collectd: {per_read:.2f}x (target <= 0.4x)")
    rss_ratio = rss["sensorpoll"] / rss["collectd"]
    print(f"ratio, RSS, sensorpoll vs collectd:                 {rss_ratio:.1f}x")
    ours_floor = figures["sensorpoll"][0] / floor_request
    theirs_floor = figures["collectd"][0] / floor_request
    print(
        f"CPU per request against the floor: sensorpoll {ours_floor:.2f}x, "
        f"collectd {theirs_floor:.2f}x"
    )


if __name__ == "__main__":
    main()
