"""YAML to plain Python data, remembering the line of every key and item.

The loader reads raw text here, before pydantic sees it; `${ENV}` is substituted in strings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
_ENV = re.compile(r"\$(\$)?\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so `on`, `off`, `yes`, `no` (a
    field named `on`, a parity of `no`) stay strings, as a reader of the file expects."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class YamlProblem(Exception):
    def __init__(self, line: int | None, path: Path_, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Replace `${NAME}` by the variable's value; `$${` stays a literal `${`."""

    def repl(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        name = match.group(2)
        if not _ENV_NAME.match(name):
            raise ValueError(f"${{{name}}} is not a valid environment variable reference")
        if name not in env:
            raise ValueError(f"environment variable {name} is not set")
        return env[name]

    return _ENV.sub(repl, text)


class _Builder:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.lines: dict[Path_, int] = {}
        self.problems: list[YamlProblem] = []
        self._constructor = Loader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # resolves `<<` merge keys
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, (*path, "<key>"))
                if not isinstance(key, str | int | float | bool):
                    self.problems.append(
                        YamlProblem(key_node.start_mark.line + 1, path, "a key must be a scalar")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    self.problems.append(
                        YamlProblem(key_node.start_mark.line + 1, (*path, key), "duplicate key")
                    )
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            self.lines.pop((*path, "<key>"), None)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self._constructor.construct_object(node, deep=True)
        if isinstance(value, str) and "$" in value:
            try:
                value = substitute_env(value, self.env)
            except ValueError as exc:
                self.problems.append(YamlProblem(node.start_mark.line + 1, path, str(exc)))
        return value


def load_yaml(text: str, env: Mapping[str, str] | None = None) -> tuple[Any, dict[Path_, int]]:
    """Parse `text`; return the data and the 1-based line of every path in it.

    Raises YamlProblem for syntax errors, or a list of them (via ExceptionGroup) for
    duplicate keys and unset environment variables.
    """
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        raise YamlProblem(line, (), f"YAML syntax error: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(None, (), f"YAML error: {exc}") from None
    if node is None:
        return None, {}
    builder = _Builder(os.environ if env is None else env)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlProblem(
            mark.line + 1 if mark else None, (), f"YAML error: {exc.problem}"
        ) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        raise YamlProblem(None, (), f"YAML error: {exc}") from None
    if builder.problems:
        raise ExceptionGroup("yaml problems", builder.problems)
    return data, builder.lines
