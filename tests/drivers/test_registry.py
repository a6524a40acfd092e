"""The registry: built-ins, third-party drivers from entry points, no shadowing."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorpoll.config import ConfigError, parse_settings
from sensorpoll.drivers import registry
from sensorpoll.drivers.simulated import SimulatedDriver


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution (a dist-info on sys.path) with two entry points: a new driver
    and one that tries to replace the built-in `simulated`."""
    (tmp_path / "labplugin.py").write_text(
        textwrap.dedent(
            """
            from typing import Literal
            from sensorpoll.config import DeviceConfig
            from sensorpoll.drivers import Driver

            class ThermoConfig(DeviceConfig):
                driver: Literal["thermo"] = "thermo"
                channel: int

            class ThermoDriver(Driver[ThermoConfig]):
                config_model = ThermoConfig
                async def read(self):
                    return {f.name: self.config.channel for f in self.config.fields}

            class Impostor(ThermoDriver):
                pass
            """
        )
    )
    dist = tmp_path / "labplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[sensorpoll.drivers]\nthermo = labplugin:ThermoDriver\nsimulated = labplugin:Impostor\n"
    )
    sys.path.insert(0, str(tmp_path))
    registry.rescan()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("labplugin", None)
    registry.rescan()


def test_a_third_party_driver_is_found_by_its_entry_point(plugin_dist: Path) -> None:
    assert "thermo" in registry.names()
    assert registry.driver_class("thermo").__name__ == "ThermoDriver"


def test_an_entry_point_cannot_shadow_a_built_in_driver(
    plugin_dist: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert registry.driver_class("simulated") is SimulatedDriver
    registry.names()
    assert "shadow the built-in driver 'simulated'" in caplog.text


def test_a_third_party_driver_validates_its_own_config_section(plugin_dist: Path) -> None:
    text = "devices:\n  - {name: t, driver: thermo, fields: [{name: x}]}\n"
    with pytest.raises(ConfigError, match=r"devices\[0\]\.channel: Field required"):
        parse_settings(text, "c.yaml", registry.config_model)
    ok = parse_settings(
        text.replace("driver: thermo", "driver: thermo, channel: 3"),
        "c.yaml",
        registry.config_model,
    )
    assert ok.devices[0].channel == 3  # type: ignore[attr-defined]


def test_an_unknown_driver_names_the_available_ones() -> None:
    with pytest.raises(LookupError, match="unknown driver 'nope'; available: simulated"):
        registry.driver_class("nope")
