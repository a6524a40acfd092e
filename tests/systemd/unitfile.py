"""Reading systemd/sensorpoll.service the way systemd does, enough for the tests."""

from __future__ import annotations

from tests.conftest import REPO

UNIT = REPO / "systemd" / "sensorpoll.service"


def directives(section: str) -> list[tuple[str, str]]:
    """(key, value) pairs of one section, in order; repeated keys stay repeated."""
    pairs, current = [], ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section:
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def service(key: str) -> list[str]:
    """Every value of `key` in [Service], in order."""
    return [value for k, value in directives("Service") if k == key]
