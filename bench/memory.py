"""RSS of `sensorpoll run` with 20 Modbus TCP devices (the peer benchmark's config), and which
stacks it imported that the config does not use.

A config uses only what it names: no pymodbus or pyserial for Modbus TCP only (our own framing),
no bcrypt without a web config's users, no serial driver without serial instruments. The
baseline is a bare interpreter with asyncio imported, measured in the same run. Target: RSS
<= 40 MB, and none of the unused stacks imported.

    .venv/bin/python bench/memory.py [--devices 20] [--seconds 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from peer_collectd import free_port, rss_mb, sensorpoll_config

# packages (and sensorpoll modules) a Modbus-TCP-only config without a web config does not need
UNUSED = ("pymodbus", "serial", "serial_asyncio_fast", "bcrypt", "sensorpoll.drivers.serial")
# the libraries `run` imports for this config: HTTP, config validation, YAML, JSON, the loop
FLOOR_NAMES = "aiohttp.web, pydantic.BaseModel, yaml, orjson, uvloop"
FLOOR = (
    "import asyncio, sys, aiohttp.web, orjson, uvloop, yaml; from pydantic import BaseModel; "
    "sys.stdin.read()"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    slaves = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "peer_collectd.py"),
            "--serve",
            str(args.devices),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert slaves.stdout is not None
    assert slaves.stdin is not None
    baseline = subprocess.Popen(
        [sys.executable, "-c", "import asyncio, sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    # What `run` cannot do without: the interpreter with the libraries it serves and
    # validates with imported, and none of sensorpoll.
    floor = subprocess.Popen([sys.executable, "-c", FLOOR], stdin=subprocess.PIPE)
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        ports = [int(p) for p in slaves.stdout.readline().split()]
        config = Path(tmp) / "sensorpoll.yaml"
        config.write_text(sensorpoll_config(ports, f"127.0.0.1:{free_port()}"))
        daemon = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "sensorpoll", "run", "-c", str(config)],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(args.seconds)
            rss, base, least = rss_mb(daemon.pid), rss_mb(baseline.pid), rss_mb(floor.pid)
        finally:
            daemon.terminate()
            _, log = daemon.communicate(timeout=10)
            assert baseline.stdin is not None
            baseline.stdin.close()
            baseline.wait(10)
            assert floor.stdin is not None
            floor.stdin.close()
            floor.wait(10)
            slaves.stdin.close()
            slaves.wait(10)
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+([\w.]+)", log, re.MULTILINE))
    loaded = sorted(
        name for name in UNUSED if any(m == name or m.startswith(name + ".") for m in imported)
    )
    print(
        f"`sensorpoll run`, {args.devices} Modbus TCP devices, no web config, {args.seconds:g} s in"
    )
    print(f"baseline (python + asyncio): {base:5.1f} MB RSS")
    print(f"its libraries alone:         {least:5.1f} MB RSS ({FLOOR_NAMES})")
    print(f"sensorpoll run:              {rss:5.1f} MB RSS (target <= 40 MB)")
    print(f"sensorpoll's own share:      {rss - least:5.1f} MB (run minus its libraries)")
    print(f"ratio: {rss / base:.2f}x the bare interpreter")
    print(f"unused stacks imported: {', '.join(loaded) or 'none'} (target: none)")


if __name__ == "__main__":
    main()
