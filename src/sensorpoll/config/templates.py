"""Templates, includes and `x-` keys, expanded on the parsed YAML data before validation.

A device naming `template:` gets the template's keys, its own keys replacing them; `include:`
brings in the templates of other files. Each expanded key remembers the file it came from, so
a problem in a template is reported at the template's own file and line.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorpoll.config.errors import ConfigError, ConfigProblem, KeyPath

ReadIncluded = Callable[[Path], Any]
"""Parses an included file into plain data; raises ConfigError for a file it cannot read."""

SECTION = "templates"


def is_extension_key(key: object) -> bool:
    """Top-level `x-` keys are the user's own (YAML anchors live there): ignored."""
    return isinstance(key, str) and key.startswith("x-")


@dataclass(frozen=True)
class Template:
    name: str
    file: str
    keys: dict[str, Any]  # the fragment, without keys a template may not set


@dataclass(frozen=True)
class Located:
    """Where a problem in the expanded data is in the user's files."""

    file: str
    path: KeyPath
    device: int | None  # the device index, when the key came from a template it uses


@dataclass
class Expansion:
    """The config data with templates applied, and what is needed to report problems in it."""

    data: Any
    file: str
    problems: list[tuple[str, KeyPath, str]] = field(default_factory=list)  # file, path, message
    read_problems: list[ConfigProblem] = field(default_factory=list)  # with lines already
    included: list[str] = field(default_factory=list)  # included files, in include order
    broken: set[int] = field(default_factory=set)  # devices whose problem is already reported
    # device index -> (template, keys the device took from it)
    origins: dict[int, tuple[Template, frozenset[str]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.problems or self.read_problems)

    def locate(self, path: KeyPath) -> Located:
        if len(path) >= 3 and path[0] == "devices" and isinstance(path[1], int):
            origin = self.origins.get(path[1])
            if origin is not None and path[2] in origin[1]:
                template = origin[0]
                return Located(template.file, (SECTION, template.name, *path[2:]), path[1])
        return Located(self.file, path, None)


def expand(data: Any, file: str, read: ReadIncluded) -> Expansion:
    """Apply `templates:`, `include:` and drop `x-` keys. Problems are collected, not raised."""
    expansion = Expansion(data, file)
    if not isinstance(data, dict):
        return expansion
    data = {k: v for k, v in data.items() if not is_extension_key(k)}
    templates: dict[str, Template] = {}
    _collect(data.get(SECTION), file, templates, expansion)
    for index, pattern in _include_items(data.get("include"), expansion):
        matches = _matches(Path(file).parent, pattern)
        if not matches and not glob.has_magic(pattern):  # a glob may match nothing (yet)
            expansion.problems.append((file, ("include", index), f"no such file: {pattern}"))
        for included in matches:
            if included in expansion.included or included == file:
                continue  # matched by two patterns: read once
            expansion.included.append(included)
            try:
                content = read(Path(included))
            except ConfigError as exc:
                expansion.read_problems.extend(exc.problems)
                continue
            _collect_included(content, included, templates, expansion)
    devices = data.get("devices")
    if isinstance(devices, list):
        data["devices"] = [
            _apply(i, device, templates, expansion) for i, device in enumerate(devices)
        ]
    expansion.data = data
    return expansion


def _matches(base: Path, pattern: str) -> list[str]:
    joined = str(base / pattern)
    if not glob.has_magic(pattern):
        return [str(base / pattern)] if Path(joined).is_file() else []
    return sorted(str(Path(m)) for m in glob.glob(joined) if Path(m).is_file())


def _include_items(raw: Any, expansion: Expansion) -> list[tuple[int, str]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        expansion.problems.append(
            (expansion.file, ("include",), "must be a list of files or globs")
        )
        return []
    items = []
    for i, item in enumerate(raw):
        if isinstance(item, str) and item:
            items.append((i, item))
        else:
            expansion.problems.append(
                (expansion.file, ("include", i), "must be a file name or a glob")
            )
    return items


def _collect_included(
    content: Any, file: str, templates: dict[str, Template], expansion: Expansion
) -> None:
    if content is None:
        return
    if not isinstance(content, dict):
        expansion.problems.append(
            (file, (), "an included file must be a mapping with `templates:`")
        )
        return
    for key in content:
        if key != SECTION and not is_extension_key(key):
            expansion.problems.append(
                (file, (key,), "an included file holds only `templates:` (and `x-` keys)")
            )
    _collect(content.get(SECTION), file, templates, expansion)


def _collect(raw: Any, file: str, templates: dict[str, Template], expansion: Expansion) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        expansion.problems.append(
            (file, (SECTION,), "must be a mapping of template names to device keys")
        )
        return
    for name, fragment in raw.items():
        where: KeyPath = (SECTION, name)
        if name in templates:
            expansion.problems.append(
                (file, where, f"template {name} is already defined in {templates[name].file}")
            )
            continue
        if not isinstance(fragment, dict):
            expansion.problems.append((file, where, "a template must be a mapping of device keys"))
            fragment = {}
        keys = dict(fragment)
        if "name" in keys:
            del keys["name"]
            expansion.problems.append(
                (file, (*where, "name"), "a template cannot set `name`: each device names itself")
            )
        if "template" in keys:
            del keys["template"]
            expansion.problems.append(
                (file, (*where, "template"), "a template cannot use another template")
            )
        templates[name] = Template(name, file, keys)


def _apply(index: int, device: Any, templates: dict[str, Template], expansion: Expansion) -> Any:
    if not isinstance(device, dict) or "template" not in device:
        return device
    name = device["template"]
    template = templates.get(name) if isinstance(name, str) else None
    if template is None:
        known = ", ".join(sorted(templates)) or "none defined"
        message = (
            f"unknown template {name!r} (templates: {known})"
            if isinstance(name, str)
            else "must be the name of a template"
        )
        expansion.problems.append((expansion.file, ("devices", index, "template"), message))
        expansion.broken.add(index)
        return device
    own = {k: v for k, v in device.items()}
    taken = frozenset(k for k in template.keys if k not in own)
    expansion.origins[index] = (template, taken)
    return {**template.keys, **own}


def located_problems(
    expansion: Expansion,
    items: list[tuple[KeyPath, str]],
    lines_of: Callable[[str], Mapping[KeyPath, int]],
    path_text: Callable[[KeyPath], str],
    line_of: Callable[[Mapping[KeyPath, int], KeyPath], int | None],
) -> list[ConfigProblem]:
    """Every problem, at its own file and line: `items` (found in the expanded data) where a
    template's key is at fault are reported once, at the template, naming each device that
    uses it; the expansion's own problems as they are. `lines_of(file)` gives a file's lines,
    `line_of` a path's line in them, `path_text` writes a key path as the user reads it."""
    located: dict[tuple[str, KeyPath, str], list[int]] = {}
    for path, message in items:
        where = expansion.locate(path)
        users = located.setdefault((where.file, where.path, message), [])
        if where.device is not None:
            users.append(where.device)
    for file, path, message in expansion.problems:
        located.setdefault((file, path, message), [])
    devices = expansion.data.get("devices") if isinstance(expansion.data, dict) else None
    problems = list(expansion.read_problems)
    for (file, path, message), users in located.items():
        if users and isinstance(devices, list):
            names = ", ".join(f"devices[{i}] {_name(devices[i])}" for i in users)
            message = f"{message} (used by {names})"
        line = line_of(lines_of(file), path)
        problems.append(ConfigProblem(file, line, path_text(path), message))
    return problems


def _name(device: Any) -> str:
    name = device.get("name") if isinstance(device, dict) else None
    return str(name) if name is not None else "(no name)"
