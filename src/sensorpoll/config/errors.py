"""The one exception config loading raises: every problem found, each with file, line, path."""

from __future__ import annotations

from dataclasses import dataclass

KeyPath = tuple[str | int, ...]
"""Where a value sits in the config data: its keys and list indexes, ("devices", 2, "name")."""


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None  # 1-based; None when the problem is with the file as a whole
    path: str  # dotted field path, e.g. "devices[2].fields[0].address"; "" for the root
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        message = " ".join(self.message.split())  # one problem, one line (YAML's are multi-line)
        return f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"


class ConfigError(Exception):
    """The config file is invalid; `problems` lists everything wrong with it, in file order."""

    def __init__(self, problems: list[ConfigProblem], files: tuple[str, ...] = ()) -> None:
        """`files`: the order files are reported in (the config, then what it includes);
        within a file, problems are in line order."""
        order = {name: i for i, name in enumerate(files)}
        self.problems = sorted(
            problems, key=lambda p: (order.get(p.file, len(order)), p.file, p.line or 0, p.path)
        )
        super().__init__("\n".join(str(p) for p in self.problems))
