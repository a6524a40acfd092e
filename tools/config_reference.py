"""Print docs/configuration.md: the config reference, generated from the config models of the
built-in drivers (third-party drivers installed here are left out: they document themselves).

    python tools/config_reference.py > docs/configuration.md
"""

from __future__ import annotations

import sys

from sensorpoll.config.jsonschema import config_json_schema
from sensorpoll.config.reference import render_reference
from sensorpoll.drivers import registry


def reference() -> str:
    models = [registry.config_model(name) for name in registry.BUILTIN]
    return render_reference(config_json_schema(models))


if __name__ == "__main__":
    sys.stdout.write(reference())
