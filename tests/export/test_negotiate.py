"""Which form of /metrics a request gets, from its Accept and Accept-Encoding headers."""

from __future__ import annotations

import pytest

from sensorpoll.export.negotiate import accepts_gzip, wants_openmetrics


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (None, False),
        ("*/*", False),
        ("text/plain;version=0.0.4", False),
        ("application/openmetrics-text;version=1.0.0", True),
        ("application/openmetrics-text;version=1.0.0;q=0.4,text/plain;q=0.5", False),
        ("text/plain;q=0.5,application/openmetrics-text;version=0.0.1;q=0.75", True),
        ("application/openmetrics-text;q=0", False),
    ],
)
def test_openmetrics_only_when_asked_for_at_least_as_much_as_text(accept, openmetrics) -> None:
    assert wants_openmetrics(accept) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [(None, False), ("identity", False), ("gzip", True), ("deflate, gzip;q=0.8", True),
     ("gzip;q=0", False), ("*", True)],
)  # fmt: skip
def test_gzip_only_when_accepted(accept_encoding, gzipped) -> None:
    assert accepts_gzip(accept_encoding) is gzipped
