"""The schema lexer: a Lark custom lexer that reads the LALR parser's state as it goes.

Keywords are contextual (§1.3, §11.1): a word becomes a keyword token only where the grammar can
shift that keyword, and an IDENT otherwise. "Can shift" is decided on the parse table: when a state
accepts both the keyword and IDENT (LALR merges look-ahead sets), the reductions the keyword would
trigger are replayed on a copy of the state stack, and the keyword wins only if they end in a shift.
The same state tells the lexer where the whitespace-sensitive tokens go (`+cron` text, ingress
paths, retry durations, migration digests, `export realm`).

The keyword and punctuation tables come from the string terminals of `grammar.lark`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from lark import Token
from lark.lexer import Lexer, LexerState
from lark.parsers.lalr_analysis import Shift

from ftl.schema._gostrings import UnquoteError, quote, unquote

# Nesting deeper than this is refused: no real schema comes near, and it keeps every recursive
# consumer of the tree (printer, validator, equality) far from Python's recursion limit.
MAX_NESTING = 64

# Terminals the lexer builds itself (with how errors name them); the rest are strings in the grammar.
SPECIAL_TERMINALS = {
    "IDENT": "a name",
    "QNAME": "a qualified name",
    "STRING": "a string",
    "NUMBER": "a number",
    "DURATION": "a duration",
    "COMMENT": "a comment",
    "CRON_TEXT": "a cron expression",
    "INGRESS_PATH": "an ingress path",
    "SHA256": '"sha256:" and 64 hex digits',
    "EXPORT_REALM": '"export realm"',
    "$END": "the end of the input",
}

# One match per token: leading whitespace, then one group per kind of token (or the end).
_TOKEN = re.compile(
    r"""[ \t\n\r\f\v]*(?:
        ([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
      | ([{}\[\]()<>,.:=?@+])
      | ([0-9]+)
      | ("(?:[^"\\]|\\.)*")
      | (//[^\n]*)
      | \Z()
    )""",
    re.VERBOSE | re.DOTALL,
)
_WORD, _PUNCT, _NUMBER, _STRING, _COMMENT, _END = 1, 2, 3, 4, 5, 6
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"[0-9]+[A-Za-z_][A-Za-z0-9_]*")
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SHA256 = re.compile(r"sha256:[0-9A-Fa-f]{64}(?![A-Za-z0-9_])")
_PATH_COMPONENT = r"(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[^\s/{}]+)"
_INGRESS_PATH = re.compile(rf"/(?:{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)?")
_OPENING = frozenset("{[(<")
_CLOSING = frozenset("}])>")

# Parser states that expect one of these terminals switch the lexer into a mode for it.
_CRON, _PATH, _DIGEST, _DURATIONS = "cron", "path", "digest", "durations"
_MODE_TERMINALS = {"CRON_TEXT": _CRON, "INGRESS_PATH": _PATH, "SHA256": _DIGEST, "DURATION": _DURATIONS}


class SchemaSyntaxError(Exception):
    """A lexical or syntactic error at a 1-based line and column (the file name is added later)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def can_shift(
    states: Mapping[Any, Mapping[str, tuple[Any, Any]]],
    stack: list[Any],
    terminal: str,
    end_state: Any = None,
) -> bool:
    """Whether feeding `terminal` now would end in a shift (or, for `$END`, in `end_state`)."""
    action = states[stack[-1]].get(terminal)
    if action is None:
        return False
    if action[0] is Shift:
        return True
    stack = stack[:]
    while True:
        kind, arg = action
        if kind is Shift:
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        stack.append(states[stack[-1]][arg.origin.name][1])
        if stack[-1] == end_state:
            return True
        action = states[stack[-1]].get(terminal)
        if action is None:
            return False


class SchemaLexer(Lexer):
    """Tokens for `grammar.lark`, chosen with the parser's current state in view."""

    __future_interface__ = 2

    def __init__(self, lexer_conf: Any) -> None:
        self.keywords: dict[str, str] = {}
        self.punctuation: dict[str, str] = {}
        for terminal in lexer_conf.terminals:
            if terminal.pattern.type != "str" or terminal.name in SPECIAL_TERMINALS:
                continue
            value = terminal.pattern.value
            if _IDENT.fullmatch(value):
                self.keywords[value] = terminal.name
            else:
                self.punctuation[value] = terminal.name
        self._modes: dict[int, dict[Any, str]] = {}

    def _modes_for(self, states: Mapping[Any, Mapping[str, Any]]) -> dict[Any, str]:
        modes = self._modes.get(id(states))
        if modes is None:
            modes = {}
            for state, row in states.items():
                for terminal, mode in _MODE_TERMINALS.items():
                    if terminal in row:
                        modes[state] = mode
            self._modes[id(states)] = modes
        return modes

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        text: str = lexer_state.text.text
        states = parser_state.parse_conf.states
        stack: list[Any] = parser_state.state_stack
        modes = self._modes_for(states)
        punctuation = self.punctuation
        new_token = str.__new__
        next_token = _TOKEN.match
        count = text.count
        pos = 0
        line = 1
        line_start = 0
        depth = 0

        while True:
            mode = modes.get(stack[-1])
            if mode is not None:
                found = _special_token(mode, text, pos, line, line_start)
                if found is not None:
                    special, line, line_start = found
                    pos = special.end_pos
                    yield special
                    continue

            match = next_token(text, pos)
            if match is None:
                pos, line, line_start = _skip_whitespace(text, pos, line, line_start)
                if text.startswith('"', pos):
                    raise SchemaSyntaxError("string literal not terminated", line, pos - line_start + 1)
                raise SchemaSyntaxError(
                    f"invalid input text {_excerpt(text, pos)}", line, pos - line_start + 1
                )
            group = match.lastindex
            start = match.start(group)  # type: ignore[arg-type]
            if start != pos and count("\n", pos, start):
                line += count("\n", pos, start)
                line_start = text.rfind("\n", pos, start) + 1
            column = start - line_start + 1
            pos = match.end()

            if group == _WORD:
                value = match.group(_WORD)
                if "." in value:
                    if "QNAME" in states[stack[-1]]:
                        terminal = "QNAME"
                    else:  # not a place for a reference: the name, then the dot, one by one
                        value = value[: value.index(".")]
                        pos = start + len(value)
                        terminal = self._word(value, states, stack)
                else:
                    terminal = self._word(value, states, stack)
                if (
                    terminal == "EXPORT"
                    and _is_export_realm(text, pos)
                    and "EXPORT_REALM" in states[stack[-1]]
                ):
                    terminal, value, pos = "EXPORT_REALM", "export realm", pos + 6
            elif group == _PUNCT:
                value = match.group(_PUNCT)
                terminal = punctuation[value]
                if value in _OPENING:
                    depth += 1
                    if depth > MAX_NESTING:
                        raise SchemaSyntaxError(f"nesting deeper than {MAX_NESTING} levels", line, column)
                elif value in _CLOSING:
                    depth -= 1
            elif group == _NUMBER:
                terminal, value = "NUMBER", match.group(_NUMBER)
            elif group == _STRING:
                terminal, value = "STRING", match.group(_STRING)
            elif group == _COMMENT:
                terminal, value = "COMMENT", match.group(_COMMENT)[2:].strip()
            else:
                return

            # Built inline rather than through a constructor: this runs ~150k times per MB.
            token = new_token(_Token, value)
            token.type = terminal
            token.value = value
            token.start_pos = start
            token.line = line
            token.column = column
            token.end_pos = pos
            yield token
            if group == _STRING and count("\n", start, pos):
                line += count("\n", start, pos)
                line_start = text.rfind("\n", start, pos) + 1

    def _word(self, word: str, states: Mapping[Any, Mapping[str, Any]], stack: list[Any]) -> str:
        """A keyword's terminal where the parser can shift it here, else IDENT."""
        terminal = self.keywords.get(word)
        if terminal is None:
            return "IDENT"
        row = states[stack[-1]]
        if terminal not in row or ("IDENT" in row and not can_shift(states, stack, terminal)):
            return "IDENT"
        return terminal


class _Token(Token):
    """A Lark token that the lexer builds field by field (see `SchemaLexer.lex`)."""

    __slots__ = ()
    end_pos: int  # where lexing resumes after a whitespace-sensitive token
    end_line = None  # Lark only reads these (to place an end-of-input token)
    end_column = None

    def __new__(
        cls, type_: str, value: str, start_pos: int, line: int, column: int, end_pos: int = 0
    ) -> _Token:
        token = str.__new__(cls, value)
        token.type = type_
        token.value = value
        token.start_pos = start_pos
        token.line = line
        token.column = column
        token.end_pos = end_pos
        return token


def _is_export_realm(text: str, end: int) -> bool:
    """`export` followed by exactly one space and the word `realm` (§1.6: Go needs the one space)."""
    if not text.startswith(" realm", end):
        return False
    after = end + 6
    return after >= len(text) or not (text[after].isalnum() or text[after] == "_")


def _skip_whitespace(text: str, pos: int, line: int, line_start: int) -> tuple[int, int, int]:
    end = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
    newlines = text.count("\n", pos, end)
    if newlines:
        line += newlines
        line_start = text.rfind("\n", pos, end) + 1
    return end, line, line_start


def _special_token(
    mode: str, text: str, pos: int, line: int, line_start: int
) -> tuple[_Token, int, int] | None:
    """A whitespace-sensitive token, if the parser wants one here and the text has one.

    Returns the token (its `end_pos` is where lexing resumes) with the line counters at its start;
    None means "lex as usual", which then reports whatever is there as unexpected.
    """
    if mode is _CRON:
        cron = _cron_text(text, pos, line, line_start)
        return (cron, line, line_start) if cron is not None else None
    pos, line, line_start = _skip_whitespace(text, pos, line, line_start)
    column = pos - line_start + 1
    if mode is _DURATIONS:
        match = _DURATION.match(text, pos)
        if match is None:
            return None
        return _Token("DURATION", match.group(), pos, line, column, match.end()), line, line_start
    if mode is _PATH:
        if not text.startswith("/", pos):
            return None
        match = _INGRESS_PATH.match(text, pos)
        assert match is not None  # a lone "/" always matches
        end = match.end()
        # Go ends a path at whitespace, or at a "}" closing the enclosing block.
        if end < len(text) and not text[end].isspace() and text[end] != "}":
            path = text[pos:].split(None, 1)[0]
            raise SchemaSyntaxError(
                f"invalid ingress path {quote(path)}: expected /literal or /{{param}} components "
                "separated by single slashes",
                line,
                column + end - pos,
            )
        return _Token("INGRESS_PATH", match.group(), pos, line, column, end), line, line_start
    match = _SHA256.match(text, pos)
    if match is None:
        return None
    return _Token("SHA256", match.group(), pos, line, column, match.end()), line, line_start


def _cron_text(text: str, pos: int, line: int, line_start: int) -> _Token | None:
    """The rest of the physical line after `+cron`, trimmed; a lone quoted string is unquoted."""
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    segment = text[pos:end]
    value = segment.strip(" \t\r\f\v")
    if not value:
        return None
    start = pos + segment.index(value[0])
    column = start - line_start + 1
    if len(value) >= 2 and value[0] == '"' and _STRING_LITERAL.fullmatch(value):
        value = unquote_at(value, line, column)
    return _Token("CRON_TEXT", value, start, line, column, end)


def unquote_at(literal: str, line: int, column: int) -> str:
    """`unquote`, with a bad escape reported at its place in the text."""
    try:
        return unquote(literal)
    except UnquoteError as exc:
        raise SchemaSyntaxError(str(exc), line, column + exc.offset) from None


def _excerpt(text: str, pos: int) -> str:
    """A short quoted piece of `text` from `pos`, for error messages."""
    return quote(text[pos : pos + 12].split("\n", 1)[0])
