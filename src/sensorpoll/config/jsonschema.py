"""The JSON Schema of the whole config file, with the device models of every driver.

The models are passed in (the command line takes them from the driver registry): config knows
no driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args

from pydantic import Field, create_model

from sensorpoll.config.schema import DeviceConfig, Settings


def _has_literal_driver(model: type[DeviceConfig]) -> bool:
    annotation = model.model_fields["driver"].annotation
    return bool(get_args(annotation)) and all(isinstance(a, str) for a in get_args(annotation))


def config_json_schema(models: Sequence[type[DeviceConfig]]) -> dict[str, Any]:
    """The schema of a config whose devices are each one of `models` (one per driver)."""
    device: Any = Union[tuple(models)]  # noqa: UP007 - built at run time from a list
    if len(models) > 1 and all(_has_literal_driver(m) for m in models):
        device = Annotated[device, Field(discriminator="driver")]
    model = create_model(
        "SensorpollConfig",
        __base__=Settings,
        __doc__="sensorpoll configuration file",
        devices=(
            tuple[device, ...],
            Field(min_length=1, description=Settings.model_fields["devices"].description),
        ),
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
