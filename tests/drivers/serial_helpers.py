"""Builds validated settings from a YAML snippet, as the daemon would from its config file."""

from __future__ import annotations

import textwrap

from sensorpoll.config.loader import parse_settings
from sensorpoll.config.schema import Settings
from sensorpoll.drivers import registry


def settings_from(yaml_text: str) -> Settings:
    return parse_settings(textwrap.dedent(yaml_text), "test.yaml", registry.config_model)
