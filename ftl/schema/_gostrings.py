"""Go string literals, as the schema text uses them: `"..."` with Go escapes.

`unquote` reads a literal (bytes written with `\\x`/octal escapes may form invalid UTF-8; those bytes
survive as surrogate escapes), `quote` writes one the way Go's `%q` does, so the two round-trip.
"""

from __future__ import annotations

import re

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\\\"])|x([0-9A-Fa-f]{2})|([0-7]{3})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))"
)
_NEEDS_QUOTING = re.compile(r'["\\]|[^\x20-\x7e]')


class UnquoteError(ValueError):
    """A bad escape; `offset` is its index in the literal (quotes included)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def unquote(literal: str) -> str:
    """The value of a Go double-quoted literal (the text including its quotes)."""
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    index = 0
    while True:
        backslash = body.find("\\", index)
        if backslash < 0:
            out += body[index:].encode("utf-8", "surrogateescape")
            return out.decode("utf-8", "surrogateescape")
        out += body[index:backslash].encode("utf-8", "surrogateescape")
        match = _ESCAPE.match(body, backslash)
        if match is None:
            bad = body[backslash : backslash + 2]
            raise UnquoteError(f"invalid escape {quote(bad)} in string", backslash + 1)
        simple, hex_byte, octal, short, long = match.groups()
        if simple is not None:
            out += _SIMPLE_ESCAPES[simple].encode()
        elif hex_byte is not None:
            out.append(int(hex_byte, 16))
        elif octal is not None:
            value = int(octal, 8)
            if value > 0xFF:
                raise UnquoteError(f"octal escape \\{octal} is larger than 255", backslash + 1)
            out.append(value)
        else:
            code = int(short if short is not None else long, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise UnquoteError(f"invalid Unicode code point in {match.group(0)}", backslash + 1)
            out += chr(code).encode()
        index = match.end()


def quote(value: str) -> str:
    """`value` as a Go double-quoted literal, escaped like Go's `strconv.Quote`."""
    if _NEEDS_QUOTING.search(value) is None:
        return f'"{value}"'
    parts = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\':
            parts.append("\\" + char)
        elif 0x20 <= code < 0x7F or (code > 0x7F and char.isprintable()):
            parts.append(char)
        elif char in _QUOTE_ESCAPES:
            parts.append(_QUOTE_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            parts.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a lone byte that was not valid UTF-8
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x10000:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)
