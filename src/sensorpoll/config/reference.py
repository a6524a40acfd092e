"""The config reference (docs/configuration.md) as a function of the config's JSON Schema: every
key with its type, default, description and an example, one section per object.

`tools/config_reference.py` renders it for the built-in drivers; a test keeps the file current.
"""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]

INTRO = """\
# Configuration reference

Every key of the config file, generated from the config models (the source `sensorpoll schema`
is made from too) by `python tools/config_reference.py > docs/configuration.md`: edit the
models' descriptions, not this file.

The file is YAML. Unknown keys are errors; `${ENV_VAR}` is replaced by the variable's value in
every string (`$${` writes a literal `${`); only `true` and `false` are booleans. A
**duration** is a number of seconds or a number with a unit: `250ms`, `1s`, `2m`, `1h`.
`sensorpoll check -c FILE` validates a file and reports every problem at once, as
`file:line: key.path: what is wrong`.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if isinstance(value, str) and value and value.strip() == value and "`" not in value:
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return f"`{_cell(text)}`"


def _is_duration(schema: Schema) -> bool:
    options = schema.get("anyOf", [])
    return any("(ms|s|m|h)" in str(o.get("pattern", "")) for o in options) and all(
        o.get("type") in ("number", "string") for o in options
    )


def _ref_name(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _bounds(schema: Schema) -> str:
    parts = []
    if "minimum" in schema and "maximum" in schema:
        parts.append(f"{schema['minimum']:g} to {schema['maximum']:g}")
    elif "minimum" in schema:
        parts.append(f">= {schema['minimum']:g}")
    elif "maximum" in schema:
        parts.append(f"<= {schema['maximum']:g}")
    if "exclusiveMinimum" in schema:
        parts.append(f"> {schema['exclusiveMinimum']:g}")
    if "minLength" in schema:
        parts.append("not empty")
    if schema.get("minItems"):
        parts.append(f"at least {schema['minItems']}")
    return f" ({', '.join(parts)})" if parts else ""


def _mentions(schema: Any) -> set[str]:
    """The defs `schema` refers to, at any depth."""
    if isinstance(schema, dict):
        found = {name} if (name := _ref_name(schema)) else set()
        for value in schema.values():
            found |= _mentions(value)
        return found
    if isinstance(schema, list):
        return set().union(*map(_mentions, schema)) if schema else set()
    return set()


class _Reference:
    def __init__(self, schema: Schema) -> None:
        self.defs: dict[str, Schema] = schema.get("$defs", {})
        self.titles: dict[str, str] = {}  # def name -> its section's title, once placed
        self.order: list[tuple[str, str]] = []  # (def name, title) in document order
        # def name -> the variants (a driver's device, a sink type) whose sections reach it
        self.owners: dict[str, set[str]] = {}
        for variant in (name for name in self.defs if self.variant(name)):
            for name in self.reachable(variant):
                self.owners.setdefault(name, set()).add(variant)

    def reachable(self, name: str) -> set[str]:
        """The defs `name`'s section leads to, at any depth."""
        found: set[str] = set()
        todo = [name]
        while todo:
            for mentioned in _mentions(self.defs[todo.pop()]) - found:
                found.add(mentioned)
                todo.append(mentioned)
        return found

    def anchor(self, name: str) -> str:
        return name.lower()

    def link(self, name: str) -> str:
        return f"[{self.titles[name]}](#{self.anchor(name)})"

    def place(self, name: str, title: str) -> None:
        """Give a def its section, at its first mention, then place what it mentions."""
        if name in self.titles:
            return
        self.titles[name] = title
        self.order.append((name, title))
        self.place_children(self.defs[name], title)

    def place_children(self, schema: Schema, title: str) -> None:
        path, _, suffix = title.partition(" (")
        suffix = f" ({suffix}" if suffix else ""
        for key, prop in schema.get("properties", {}).items():
            self.place_mentions(prop, f"{path}.{key}" if path else key, suffix)

    def place_mentions(self, schema: Schema, path: str, suffix: str) -> None:
        name = _ref_name(schema)
        if name is not None:
            shared = len(self.owners.get(name, ())) > 1  # one section, under no one driver
            self.place(name, f"{path}{self.variant(name) or ('' if shared else suffix)}")
            return
        if schema.get("type") == "array":
            self.place_mentions(schema.get("items", {}), f"{path}[]", suffix)
            return
        for option in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
            self.place_mentions(option, path, suffix)

    def variant(self, name: str) -> str:
        """` (driver: modbus)` for a model told apart by a constant key, else ""."""
        for key in ("driver", "type"):
            const = self.defs[name].get("properties", {}).get(key, {}).get("const")
            if isinstance(const, str):
                return f" ({key}: {const})"
        return ""

    def type_text(self, schema: Schema, top: bool = True) -> str:
        name = _ref_name(schema)
        if name is not None:
            return f"see {self.link(name)}" if top else self.link(name)
        if "const" in schema:
            return _code(schema["const"])
        if "enum" in schema:
            return " or ".join(_code(v) for v in schema["enum"])
        if _is_duration(schema):
            number = next(o for o in schema["anyOf"] if o.get("type") == "number")
            return "duration" + (" (> 0)" if number.get("exclusiveMinimum") == 0 else "")
        options = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
        if options:
            texts: list[str] = []
            for option in options:
                if option.get("type") == "null":
                    continue
                text = self.type_text(option, top)
                if text not in texts:
                    texts.append(text)
            return " or ".join(texts)
        kind = schema.get("type")
        if kind == "array":
            return f"list of {self.type_text(schema.get('items', {}), False)}{_bounds(schema)}"
        if kind == "object":
            values = schema.get("additionalProperties")
            if isinstance(values, dict):
                return f"map of names to {self.type_text(values)}"
            return "object"
        if kind == "string" and schema.get("format") == "path":
            return "path" + _bounds(schema)
        return f"{kind or 'any'}{_bounds(schema)}"

    def table(self, schema: Schema) -> list[str]:
        required = set(schema.get("required", ()))
        rows = [
            "| key | type | default | description | example |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key, prop in schema.get("properties", {}).items():
            if "default" in prop and _is_duration(prop) and isinstance(prop["default"], float):
                default = _code(f"{prop['default']:g}s")
            elif "default" in prop:
                default = _code(prop["default"])
            elif key in required:
                default = "required"
            else:
                default = ""
            examples = prop.get("examples") or []
            example = _code(examples[0]) if examples else ""
            description = _cell(prop.get("description", ""))
            type_text = _cell(self.type_text(prop)).replace("\\|", "|")
            rows.append(f"| `{key}` | {type_text} | {default} | {description} | {example} |")
        return rows


def render_reference(schema: Schema) -> str:
    """The reference document of the config file whose JSON Schema is `schema`."""
    ref = _Reference(schema)
    ref.place_children(schema, "")
    lines: list[str] = [INTRO, "## Top level", "", *ref.table(schema)]
    for name, title in ref.order:
        model = ref.defs[name]
        lines += ["", f'<a id="{ref.anchor(name)}"></a>', "", f"## {title}", ""]
        if model.get("description"):
            lines += [model["description"].strip(), ""]
        lines += ref.table(model)
    return "\n".join(lines) + "\n"
