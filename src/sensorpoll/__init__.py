"""sensorpoll: poll lab sensors and instruments on a fixed cycle, export to Prometheus."""

__version__ = "0.1.0"
