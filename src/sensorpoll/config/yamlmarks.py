"""YAML text to plain Python data, straight from the parser's event stream.

No node tree is built (for 1,000 devices it costs tens of MB that the allocator never gives
back); the 1-based line of every key and item is collected only when asked, on the error path.
`${ENV}` is substituted in strings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from sensorpoll.config.errors import KeyPath

# Bounds on what a file can make the builder do: aliases are shared, not copied, but
# everything downstream (validation, the error path's key walk) sees them expanded, so a
# "billion laughs" file must be refused here, while it is still cheap to count.
MAX_VALUES = 1_000_000  # scalars, lists and mappings, every alias expanded
MAX_DEPTH = 64  # levels of nesting
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """The pure-Python event parser, for a PyYAML built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _parser(text: str) -> Any:
    # libyaml's parser when PyYAML has it (its wheels do): faster, and lighter on memory
    if yaml.__with_libyaml__:
        from yaml._yaml import CParser

        return CParser(text)
    return _PyParser(text)  # pragma: no cover


_YAML = "tag:yaml.org,2002:"
_BOOL, _TIMESTAMP = _YAML + "bool", _YAML + "timestamp"
# What a config holds: strings, numbers, true/false, null, lists and mappings. Other tags
# (!!timestamp, !!binary, !!set, a custom !thing) would hand the validation objects it cannot
# describe, so they are refused by name.
_SCALAR_TAGS = frozenset(_YAML + name for name in ("str", "int", "float", "bool", "null"))
_BOOL_TEXT = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so `on`, `off`, `yes`, `no` (a
    field named `on`, a parity of `no`) stay strings, as a reader of the file expects; and no
    implicit dates: `2026-03-01` is the string a label value or a command means."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(_BOOL, _BOOL_TEXT, list("tTfF"))


def _shown(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


class YamlProblem(Exception):
    def __init__(self, line: int | None, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Replace `${NAME}` by the variable's value; `$${` stays a literal `${`.

    One pass, each `$` looked at once: a long run of `${` costs linear time.
    """
    parts: list[str] = []
    done = 0
    while (dollar := text.find("$", done)) != -1:
        parts.append(text[done:dollar])
        if text.startswith("$${", dollar):
            parts.append("${")
            done = dollar + 3
        elif text.startswith("${", dollar):
            end = text.find("}", dollar + 2)
            if end == -1:
                raise ValueError("${ without a closing } (write $${ for a literal ${)")
            name = text[dollar + 2 : end]
            if not _ENV_NAME.match(name):
                raise ValueError(f"${{{name}}} is not a valid environment variable reference")
            if name not in env:
                raise ValueError(f"environment variable {name} is not set")
            parts.append(env[name])
            done = end + 1
        else:
            parts.append("$")
            done = dollar + 1
    parts.append(text[done:])
    return "".join(parts)


def _line(event: Any) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 0


class _Builder:
    def __init__(self, text: str, env: Mapping[str, str], want_lines: bool) -> None:
        self.parser = _parser(text)
        self.env = env
        self.lines: dict[KeyPath, int] | None = {} if want_lines else None
        self.problems: list[YamlProblem] = []
        self.anchors: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}  # values each anchored node holds, aliases expanded
        self.values = 0
        self._scalars = Loader("")  # resolves and constructs scalars with our resolver

    def document(self) -> Any:
        parser = self.parser
        parser.get_event()  # StreamStart
        if parser.check_event(yaml.StreamEndEvent):
            return None
        parser.get_event()  # DocumentStart
        data = self.node(())
        parser.get_event()  # DocumentEnd
        if not parser.check_event(yaml.StreamEndEvent):
            event = parser.get_event()
            line = _line(event)
            raise YamlProblem(line, (), "only one YAML document is allowed in a config")
        return data

    def _mark(self, path: KeyPath, event: Any) -> None:
        if self.lines is not None:
            self.lines.setdefault(path, _line(event))

    def node(self, path: KeyPath) -> Any:
        event: Any = self.parser.get_event()  # C and Python parsers' events, typed alike
        self._mark(path, event)
        if len(path) > MAX_DEPTH:
            raise YamlProblem(_line(event), path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise YamlProblem(_line(event), path, f"undefined alias *{event.anchor}")
            self._count(self.sizes[event.anchor], event, path)
            return self.anchors[event.anchor]
        start = self.values
        self._count(1, event, path)
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event, path)
        elif isinstance(event, yaml.SequenceStartEvent):
            self._check_tag(event, _SEQ, path)
            value = []
            index = 0
            while not self.parser.check_event(yaml.SequenceEndEvent):
                value.append(self.node((*path, index)))
                index += 1
            self.parser.get_event()
        elif isinstance(event, yaml.MappingStartEvent):
            self._check_tag(event, _MAP, path)
            value = self.mapping(path)
        else:  # pragma: no cover - the parser only yields the events above here
            raise YamlProblem(_line(event), path, f"unexpected {event}")
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = value
            self.sizes[event.anchor] = self.values - start
        return value

    def _count(self, values: int, event: Any, path: KeyPath) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise YamlProblem(
                _line(event),
                path,
                f"with its aliases expanded the file holds more than {MAX_VALUES:,} values "
                "(an alias bomb?)",
            )

    def _check_tag(self, event: Any, default: str, path: KeyPath) -> None:
        if event.tag not in (None, "!", default):
            raise YamlProblem(_line(event), path, _unsupported(event.tag))

    def _resolve(self, event: Any) -> str:
        tag: str = self._scalars.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, event.value, event.implicit
        )
        return tag

    def scalar(self, event: Any, path: KeyPath) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolve(event)
        elif tag not in _SCALAR_TAGS:
            raise YamlProblem(_line(event), path, _unsupported(tag))
        elif tag == _BOOL and not _BOOL_TEXT.match(event.value):
            raise YamlProblem(_line(event), path, f"!!bool {event.value!r}: only true or false")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlProblem(_line(event), path, str(exc.problem)) from None
        finally:
            self._scalars.constructed_objects.clear()  # it would keep every node alive
        if isinstance(value, str) and "$" in value:
            try:
                value = substitute_env(value, self.env)
            except ValueError as exc:
                self.problems.append(YamlProblem(_line(event), path, str(exc)))
        return value

    def mapping(self, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[Any] = []
        while not self.parser.check_event(yaml.MappingEndEvent):
            key_event = self.parser.peek_event()
            line = _line(key_event)
            if (
                isinstance(key_event, yaml.ScalarEvent)
                and key_event.tag in (None, _MERGE)
                and self._resolve(key_event) == _MERGE
            ):  # `<<: *defaults` merges another mapping in
                self.parser.get_event()
                merged.append((line, self.node(path)))
                continue
            key = self.node((*path, "<key>"))
            if isinstance(key, dict | list):
                self.problems.append(YamlProblem(line, path, "a key must be a scalar"))
                self.node(path)
                continue
            key = key if isinstance(key, str) else str(key)
            if key in result:
                self.problems.append(YamlProblem(line, (*path, key), "duplicate key"))
                self.node(path)
                continue
            if self.lines is not None:
                self.lines.pop((*path, "<key>"), None)
                self.lines[(*path, key)] = line
            result[key] = self.node((*path, key))
        self.parser.get_event()
        for line, source in merged:  # explicit keys win; earlier merges win over later ones
            for item in source if isinstance(source, list) else [source]:
                if not isinstance(item, dict):
                    self.problems.append(YamlProblem(line, path, "`<<` must merge a mapping"))
                    continue
                for key, value in item.items():
                    result.setdefault(key, value)
        return result


def _unsupported(tag: str) -> str:
    return (
        f"unsupported tag {_shown(tag)}: a config holds strings, numbers, true/false, null, "
        "lists and mappings"
    )


def load_yaml(
    text: str, env: Mapping[str, str] | None = None, *, lines: bool = False
) -> tuple[Any, dict[KeyPath, int]]:
    """Parse `text`; return the data and, if `lines`, the 1-based line of every path in it.

    Raises YamlProblem for syntax errors, or an ExceptionGroup of them for duplicate keys and
    unset environment variables (all of them, not just the first).
    """
    builder = _Builder(text, os.environ if env is None else env, lines)
    try:
        data = builder.document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        raise YamlProblem(line, (), f"YAML syntax error: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(None, (), f"YAML error: {exc}") from None
    except (ValueError, OverflowError) as exc:
        raise YamlProblem(None, (), f"YAML error: {exc}") from None
    except RecursionError:
        raise YamlProblem(None, (), "YAML error: nested too deeply") from None
    finally:
        dispose = getattr(builder.parser, "dispose", None)
        if dispose is not None:
            dispose()
    if builder.problems:
        raise ExceptionGroup("yaml problems", builder.problems)
    return data, builder.lines or {}
