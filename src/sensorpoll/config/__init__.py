"""Configuration: the YAML file, validated into frozen settings (the flow's first stage)."""

from sensorpoll.config.errors import ConfigError, ConfigProblem
from sensorpoll.config.loader import load_settings, parse_settings
from sensorpoll.config.schema import (
    DEFAULT_CONFIG_PATH,
    BusSpec,
    DeviceConfig,
    FieldConfig,
    Model,
    Settings,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "BusSpec",
    "ConfigError",
    "ConfigProblem",
    "DeviceConfig",
    "FieldConfig",
    "Model",
    "Settings",
    "load_settings",
    "parse_settings",
]
