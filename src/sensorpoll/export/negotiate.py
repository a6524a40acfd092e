"""Content negotiation for `/metrics`: OpenMetrics per `Accept`, gzip per `Accept-Encoding`."""

from __future__ import annotations

OPENMETRICS = "application/openmetrics-text"


def _weighted(header: str) -> dict[str, float]:
    """`a;q=0.5, b` -> {"a": 0.5, "b": 1.0}; the highest q when a type is listed twice."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        name = name.lower()
        weights[name] = max(q, weights.get(name, 0.0))
    return weights


def wants_openmetrics(accept: str | None) -> bool:
    """OpenMetrics when the client asks for it at least as much as for plain text."""
    if not accept:
        return False
    weights = _weighted(accept)
    om = weights.get(OPENMETRICS, 0.0)
    text = max(weights.get("text/plain", 0.0), weights.get("text/*", 0.0))
    return om > 0 and om >= text


def accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    weights = _weighted(accept_encoding)
    return weights.get("gzip", weights.get("*", 0.0)) > 0
