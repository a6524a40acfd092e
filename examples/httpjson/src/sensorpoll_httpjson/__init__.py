"""An example third-party sensorpoll driver: devices that publish their readings as a JSON
document over HTTP (smart plugs, ESP-based sensors, data loggers with a web interface)."""

from sensorpoll_httpjson.config import HttpJsonConfig, JsonField
from sensorpoll_httpjson.driver import HttpJsonDriver

__all__ = ["HttpJsonConfig", "HttpJsonDriver", "JsonField"]
