"""The shortest text a `parse` regex matches, with chosen text in its named groups.

For the simulator's replies (`reply.ReplyBuilder`). Python's own regex parser is private
(`re._parser`), and the libraries that generate matching text (exrex, rstr, sre_yield) read
that same private parser and cannot put given values into named groups; so the subset of
regex syntax instruments' replies use is parsed here. The caller checks every text it builds
with `re.fullmatch`, so a construct read wrongly can only ever refuse a config, never serve
a wrong reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

FILLERS = "0a x.,;:-_+=/A"  # characters tried for a class or `.`, in this order
_MORE_FILLERS = "".join(chr(c) for c in range(32, 127)) + "\t\r\n\x00"
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "a": "\a"}
_CLASS_ESCAPES = set("dDsSwW")
_EMPTY_ESCAPES = set("bBAZ")


class PatternError(ValueError):
    """A regex construct the renderer does not support (the message names it)."""


@dataclass
class _Node:
    kind: str  # "text", "group", "alt", "seq", "backref", "empty"
    text: str = ""
    name: str | None = None
    number: int | None = None
    children: list[_Node] = field(default_factory=list)
    repeat: int = 1


def _char_for(source: str) -> str:
    """A character the one-character regex `source` matches (a class, `.`, `\\d`, ...)."""
    pattern = re.compile(source, re.DOTALL)
    for char in FILLERS + _MORE_FILLERS:
        if pattern.fullmatch(char):
            return char
    raise PatternError(f"no printable character matches {source}")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.groups = 0
        self.names: dict[str, int] = {}

    def parse(self) -> _Node:
        node = self._alternation()
        if self.pos < len(self.src):
            raise PatternError(f"unbalanced ')' at position {self.pos}")
        return node

    def _peek(self, text: str) -> bool:
        return self.src.startswith(text, self.pos)

    def _alternation(self) -> _Node:
        branches = [self._sequence()]
        while self._peek("|"):
            self.pos += 1
            branches.append(self._sequence())
        return branches[0] if len(branches) == 1 else _Node("alt", children=branches)

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self.pos < len(self.src) and not self._peek("|") and not self._peek(")"):
            atom = self._atom()
            atom.repeat = self._quantifier(atom.repeat)
            items.append(atom)
        return _Node("seq", children=items)

    def _quantifier(self, repeat: int) -> int:
        """The minimum count of a quantifier after an atom (1 without one)."""
        src = self.src
        if self.pos >= len(src):
            return repeat
        char = src[self.pos]
        low: int | None = None
        if char in "*?":
            low = 0
            self.pos += 1
        elif char == "+":
            low = 1
            self.pos += 1
        elif char == "{":
            match = re.compile(r"\{(\d*)(?:,(\d*))?\}").match(src, self.pos)
            if match is None or (not match.group(1) and match.group(2) is None):
                return repeat  # a literal "{", as Python's re reads it
            low = int(match.group(1) or 0)
            self.pos = match.end()
        if low is None:
            return repeat
        if self.pos < len(src) and src[self.pos] in "?+":  # lazy or possessive
            self.pos += 1
        return low

    def _atom(self) -> _Node:
        src = self.src
        char = src[self.pos]
        if char == "(":
            return self._group()
        if char == "[":
            return self._class()
        if char == "\\":
            return self._escape()
        self.pos += 1
        if char in "^$":
            return _Node("empty")
        if char == ".":
            return _Node("text", text=_char_for("."))
        if char in "*+?":
            raise PatternError(f"nothing to repeat at position {self.pos - 1}")
        return _Node("text", text=char)

    def _class(self) -> _Node:
        src, start = self.src, self.pos
        end = start + 1
        if src.startswith("^", end):
            end += 1
        if src.startswith("]", end):
            end += 1  # a "]" first in the class is a member
        while end < len(src) and src[end] != "]":
            end += 2 if src[end] == "\\" else 1
        if end >= len(src):
            raise PatternError(f"unterminated character class at position {start}")
        self.pos = end + 1
        return _Node("text", text=_char_for(src[start : end + 1]))

    def _escape(self) -> _Node:
        src = self.src
        if self.pos + 1 >= len(src):
            raise PatternError("a trailing backslash")
        char = src[self.pos + 1]
        self.pos += 2
        if char in _CLASS_ESCAPES:
            return _Node("text", text=_char_for("\\" + char))
        if char in _EMPTY_ESCAPES:
            return _Node("empty")
        if char in _CONTROL_ESCAPES:
            return _Node("text", text=_CONTROL_ESCAPES[char])
        if char in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[char]
            digits = src[self.pos : self.pos + width]
            self.pos += width
            return _Node("text", text=chr(int(digits, 16)))
        if char == "0":  # an octal escape: up to two more octal digits
            digits = "0"
            while len(digits) < 3 and self.pos < len(src) and src[self.pos] in "01234567":
                digits += src[self.pos]
                self.pos += 1
            return _Node("text", text=chr(int(digits, 8)))
        three = src[self.pos - 1 : self.pos + 2]
        if len(three) == 3 and all(c in "01234567" for c in three):  # \ddd: octal, as in re
            self.pos += 2
            return _Node("text", text=chr(int(three, 8)))
        if char.isdigit():  # a group reference: one or two digits
            digits = char
            if src[self.pos : self.pos + 1].isdigit():
                digits += src[self.pos]
                self.pos += 1
            return _Node("backref", number=int(digits))
        if char.isalnum():
            raise PatternError(f"the escape \\{char}")
        return _Node("text", text=char)

    def _group(self) -> _Node:
        src, start = self.src, self.pos
        name: str | None = None
        capture = True
        self.pos += 1
        if self._peek("?"):
            named = re.compile(r"\?P?<([A-Za-z_]\w*)>").match(src, self.pos)
            if named is not None:
                name = named.group(1)
                self.pos = named.end()
            elif self._peek("?:"):
                capture = False
                self.pos += 2
            elif inline := re.compile(r"\?[aiLmsux-]+([:)])").match(src, self.pos):
                self.pos = inline.end()
                if inline.group(1) == ")":
                    return _Node("empty")  # global flags: the check with re decides
                capture = False
            elif self._peek("?P="):
                end = src.index(")", self.pos)
                ref = src[self.pos + 3 : end]
                self.pos = end + 1
                return _Node("backref", number=self.names.get(ref))
            elif self._peek("?#"):
                self.pos = src.index(")", self.pos) + 1
                return _Node("empty")
            elif any(self._peek(look) for look in ("?=", "?!", "?<=", "?<!")):
                self.pos += 3 if self._peek("?<") else 2
                self._alternation()  # a lookaround prints nothing
                self._close(start)
                return _Node("empty")
            else:
                raise PatternError(f"the group {src[start : start + 4]}... at position {start}")
        number = None
        if capture:
            self.groups += 1
            number = self.groups
            if name is not None:
                self.names[name] = number
        body = self._alternation()
        self._close(start)
        return _Node("group", name=name, number=number, children=[body])

    def _close(self, start: int) -> None:
        if not self._peek(")"):
            raise PatternError(f"unterminated group at position {start}")
        self.pos += 1


class Template:
    """A parsed `parse` regex that prints the shortest text it matches, named groups filled."""

    def __init__(self, pattern: str) -> None:
        self._tree = _Parser(pattern).parse()

    def render(self, groups: Mapping[str, str]) -> str:
        """The text, each named group in `groups` replaced by its given text."""
        done: dict[int, str] = {}
        return self._render(self._tree, groups, done)

    def _render(self, node: _Node, groups: Mapping[str, str], done: dict[int, str]) -> str:
        repeat = node.repeat
        if repeat == 0 and _holds(node, groups):
            repeat = 1  # an optional part that carries a value is printed once
        if node.kind == "text":
            text = node.text
        elif node.kind == "seq":
            text = "".join(self._render(child, groups, done) for child in node.children)
        elif node.kind == "alt":
            branch = next((b for b in node.children if _holds(b, groups)), node.children[0])
            text = self._render(branch, groups, done)
        elif node.kind == "group":
            if node.name is not None and node.name in groups:
                text = groups[node.name]
            else:
                text = self._render(node.children[0], groups, done)
            if node.number is not None:
                done[node.number] = text
        elif node.kind == "backref":
            text = done.get(node.number or 0, "")
        else:
            text = ""
        return text * repeat


def _holds(node: _Node, groups: Mapping[str, str]) -> bool:
    """Whether `node` contains a named group given in `groups`."""
    if node.kind == "group" and node.name in groups:
        return True
    return any(_holds(child, groups) for child in node.children)
