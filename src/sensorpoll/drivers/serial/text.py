"""Command and reply text in the config: backslash escapes decoded, whatever the YAML quoting.

Used by the `driver: serial` config models (stage 1) for commands, terminators and handshakes.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def decode_escapes(text: str) -> str:
    """Decode `\\r \\n \\t \\0 \\\\ \\xHH` in `text`.

    YAML double quotes ("MEAS?\\r\\n") already turn escapes into control characters; plain and
    single-quoted strings ('MEAS?\\r\\n') keep the backslashes. Decoding here makes both
    spellings mean the same bytes; text without backslashes passes unchanged. A literal
    backslash is written `\\\\` after YAML's own decoding.
    """

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        raise ValueError(
            f"unknown escape \\{code!s} in {text!r}: use \\r \\n \\t \\0 \\xHH, or \\\\ for a "
            "backslash"
        )

    return _ESCAPE.sub(replace, text)


def _non_empty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


Escaped = Annotated[str, AfterValidator(decode_escapes)]
"""A string in which `\\r`, `\\n`, `\\t`, `\\0`, `\\xHH` and `\\\\` are decoded."""
NonEmptyEscaped = Annotated[str, AfterValidator(decode_escapes), AfterValidator(_non_empty)]
