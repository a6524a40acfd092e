"""`process_*` and `python_info`, from prometheus_client's own collectors on a private registry
(the default registry is not used), rendered next to sensorpoll's exposition."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

EOF_LINE = b"# EOF\n"


class ProcessMetrics:
    """The process's CPU time, resident memory, open and maximum file descriptors and start
    time, and the Python version: what every Prometheus exporter reports about itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def text(self) -> bytes:
        body: bytes = generate_latest(self.registry)
        return body

    def openmetrics(self) -> bytes:
        """The families without the final `# EOF`, so they can go before ours ends."""
        body: bytes = generate_openmetrics(self.registry)  # type: ignore[no-untyped-call]
        return body.removesuffix(EOF_LINE)
