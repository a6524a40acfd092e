"""Sinks' own metrics: what each data log or broker took, dropped and holds queued.

Each sink keeps a `SinkStats`; the exposition renders them with the cycle's other families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sensorpoll.export.readings import FamilyText
from sensorpoll.export.textformat import escape_help, escape_label_value


@dataclass
class SinkStats:
    """Counters of one sink over the daemon's life (a reload that keeps the sink keeps them)."""

    label: str  # the `sink` label: `jsonl:/path` or `mqtt://host:port/topic`
    published: int = 0  # lines written or messages the broker took
    dropped: int = 0  # lines or messages given up on
    queued: Callable[[], int] | None = None  # messages waiting; None for a sink without a queue
    connected: bool | None = None  # to its broker; None for a sink without one


def _family(name: str, kind: str, help_text: str, lines: list[str]) -> FamilyText:
    help_text = escape_help(help_text)
    om_name = name.removesuffix("_total") if kind == "counter" else name
    samples = "".join(f"\n{line}" for line in lines) + "\n"
    return FamilyText(
        f"# HELP {name} {help_text}\n# TYPE {name} {kind}".encode(),
        f"# HELP {om_name} {help_text}\n# TYPE {om_name} {kind}".encode(),
        samples.encode(),
    )


def render_sink_metrics(stats: Sequence[SinkStats]) -> list[FamilyText]:
    """The sink families; none without sinks, so a config without sinks exports nothing."""
    if not stats:
        return []
    labels = [f'{{sink="{escape_label_value(s.label)}"}}' for s in stats]
    queued = [(lb, s.queued()) for lb, s in zip(labels, stats, strict=True) if s.queued]
    connected = [
        (lb, int(s.connected))
        for lb, s in zip(labels, stats, strict=True)
        if s.connected is not None
    ]
    families = [
        _family(
            "sensorpoll_sink_published_total",
            "counter",
            "Cycle lines a jsonl sink wrote, or device messages an MQTT broker took.",
            [
                f"sensorpoll_sink_published_total{lb} {s.published}"
                for lb, s in zip(labels, stats, strict=True)
            ],
        ),
        _family(
            "sensorpoll_sink_dropped_total",
            "counter",
            "Lines a jsonl sink could not write, or MQTT messages dropped because the queue "
            "was full while the broker was unreachable.",
            [
                f"sensorpoll_sink_dropped_total{lb} {s.dropped}"
                for lb, s in zip(labels, stats, strict=True)
            ],
        ),
    ]
    if queued:
        families.append(
            _family(
                "sensorpoll_sink_queued_messages",
                "gauge",
                "Messages waiting for the broker.",
                [f"sensorpoll_sink_queued_messages{lb} {n}" for lb, n in queued],
            )
        )
    if connected:
        families.append(
            _family(
                "sensorpoll_sink_connected",
                "gauge",
                "1 while the sink is connected to its broker, 0 while it is reconnecting.",
                [f"sensorpoll_sink_connected{lb} {n}" for lb, n in connected],
            )
        )
    return families
