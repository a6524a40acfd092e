"""Problems found in a config file, by key path, turned into one `ConfigError` with lines.

Translates pydantic's validation errors into the user's own key paths and short messages;
used by the main config's loader and by the web config alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from sensorpoll.config.errors import ConfigError, ConfigProblem, KeyPath

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: Sequence[str | int]) -> str:
    """`devices[2].fields[0].address`; an unusual key is quoted: `labels["room no"]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            text += f"[{json.dumps(part)}]"  # escapes quotes, newlines, U+2028 ...
        else:
            text += f".{part}" if text else part
    return text


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of the nearest enclosing item that has one."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


class Problems:
    """Problems of one file by key path; their lines are looked up once, in `error`."""

    def __init__(self, file: str, data: Any) -> None:
        self.file, self.data = file, data
        self.items: list[tuple[KeyPath, str]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    @cached_property
    def keys(self) -> set[KeyPath]:
        """Paths of the keys the user wrote (see _is_tag); only built on the error path."""
        return _key_paths(self.data)

    def add(self, path: KeyPath, message: str) -> None:
        self.items.append((path, message))

    def error(self, lines: Mapping[KeyPath, int]) -> ConfigError:
        return ConfigError(
            [ConfigProblem(self.file, line_of(lines, p), format_path(p), m) for p, m in self.items]
        )

    def _is_tag(self, parent: KeyPath, part: str) -> bool:
        if part == "[key]":
            return True
        if (*parent, part) in self.keys:  # a key the user wrote, whatever it looks like
            return False
        return "[" in part or "(" in part or part[:1].isupper()

    def add_validation(self, prefix: KeyPath, errors: Sequence[Any]) -> None:
        """Record pydantic's `errors()` items, located under `prefix`."""
        items = []
        for item in errors:
            loc = item["loc"]
            # pydantic names union branches and validators in the path ("function-after[...]",
            # "LatencyRange") and dict keys as "[key]": keep only the user's own keys
            path: KeyPath = ()
            for part in loc:
                if isinstance(part, int) or not self._is_tag((*prefix, *path), part):
                    path = (*path, part)
            branch = len(path) != len(loc)
            items.append((path, branch, item))
        reported = {path for path, _, item in items if item["type"] != "too_short"}
        by_path: dict[KeyPath, list[tuple[bool, Any]]] = {}
        for path, branch, item in items:
            if item["type"] == "too_short" and any(
                len(p) > len(path) and p[: len(path)] == path for p in reported
            ):
                continue  # a sequence "too short" only because its invalid items were dropped
            by_path.setdefault(path, []).append((branch, item))
        for path, entries in by_path.items():
            if len(entries) > 1 and all(branch for branch, _ in entries):
                # one error per union branch: the branch of the wrong type says least
                specific = [e for e in entries if not e[1]["type"].endswith("_type")]
                entries = specific or entries
            for _, item in entries:
                self.add((*prefix, *path), _message(item))


def _message(item: Any) -> str:
    message = str(item["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if item["type"] == "extra_forbidden":
        message = "unknown key"
    return message


def _key_paths(data: Any, prefix: KeyPath = ()) -> set[KeyPath]:
    paths: set[KeyPath] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            paths.add((*prefix, key))
            paths |= _key_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            paths |= _key_paths(value, (*prefix, i))
    return paths
