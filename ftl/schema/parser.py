"""Schema text to AST: `parse_schema`, `parse_module`, `parse_type`, `parse_ref`.

One LALR parser (built from `grammar.lark` on first use, its tables cached on disk) drives the
state-aware lexer in `_lexer.py` and builds the AST with `_transform.py` as it reduces. Any text
gives either a node or an `FtlError` with one positioned diagnostic; parsing stops at the first error.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import lark
from lark import Lark
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.grammar import Rule
from lark.parsers.lalr_analysis import Shift

from ftl.errors import Diagnostic, FtlError, Position
from ftl.schema import ast
from ftl.schema._gc import paused_gc
from ftl.schema._gostrings import quote
from ftl.schema._lexer import SPECIAL_TERMINALS, SchemaLexer, SchemaSyntaxError, can_shift
from ftl.schema._transform import AstBuilder

__all__ = ["parse_module", "parse_ref", "parse_schema", "parse_type"]

_GRAMMAR = Path(__file__).with_name("grammar.lark")
_START = ("schema", "module_document", "type_document", "ref_document")
_MAX_EXPECTED = 10


def parse_schema(text: str, filename: str = "") -> ast.Schema:
    """A document of zero or more realms (what `ftl schema get` prints)."""
    result: ast.Schema = _parse(text, filename, "schema")
    return result


def parse_module(text: str, filename: str = "") -> ast.Module:
    """A document holding exactly one bare `module` block."""
    result: ast.Module = _parse(text, filename, "module_document")
    return result


def parse_type(text: str, filename: str = "") -> ast.Type:
    """One type, e.g. `{String: [m.D<Int>]}?`."""
    result: ast.Type = _parse(text, filename, "type_document")
    return result


def parse_ref(text: str, filename: str = "") -> ast.Ref:
    """One reference, e.g. `m.verb` or `bank.Receipt@bank`."""
    result: ast.Ref = _parse(text, filename, "ref_document")
    return result


class _Parser:
    """The Lark parser with its transformer; not reentrant, so `_parse` holds a lock around it."""

    def __init__(self) -> None:
        self.builder = AstBuilder()
        self.lark = _cached_lark(_GRAMMAR.read_text(encoding="utf-8"), self.builder)
        _rekey_callbacks(self.lark)
        self.display = dict(SPECIAL_TERMINALS)
        for terminal in self.lark.terminals:
            if terminal.name not in self.display and terminal.pattern.type == "str":
                self.display[terminal.name] = f'"{terminal.pattern.value}"'


def _rekey_callbacks(parser: Lark) -> None:
    """Key the reduce callbacks by the parse table's own rule objects.

    Lark looks a callback up by rule on every reduction; when the tables come from the cache those
    rules are equal but not identical to the callbacks' keys, and `Rule.__eq__` then costs more than
    the reduction itself. Identity hits keep the dict lookup in C.
    """
    inner = getattr(getattr(parser.parser, "parser", None), "parser", None)
    if inner is None or not hasattr(inner, "callbacks"):
        return
    callbacks = inner.callbacks
    rekeyed = {key: value for key, value in callbacks.items() if not isinstance(key, Rule)}
    for row in inner.parse_table.states.values():
        for action, arg in row.values():
            if action is not Shift:
                rekeyed[arg] = callbacks[arg]
    inner.callbacks = rekeyed


_lock = threading.Lock()
_parser: _Parser | None = None


def _parse(text: str, filename: str, start: str) -> Any:
    global _parser
    with _lock:
        if _parser is None:
            _parser = _Parser()
        _parser.builder.filename = filename
        try:
            with paused_gc():
                return _parser.lark.parse(text, start=start)
        except SchemaSyntaxError as exc:
            error = Diagnostic(exc.message, Position(filename, exc.line, exc.column))
        except UnexpectedToken as exc:
            error = _unexpected_token(exc, text, filename, _parser.display)
        except UnexpectedInput as exc:
            error = Diagnostic(f"unexpected input: {exc}", Position(filename, exc.line, exc.column))
    raise FtlError([error])


def _unexpected_token(exc: UnexpectedToken, text: str, filename: str, display: dict[str, str]) -> Diagnostic:
    token = exc.token
    names = set(exc.expected)
    state = exc.state
    if state is not None:
        # LALR merges look-ahead sets; keep only what could really be shifted here.
        conf = state.parse_conf
        shiftable = {
            name for name in names if can_shift(conf.states, state.state_stack, name, conf.end_state)
        }
        names = shiftable or names
    # Described terminals ("a name") first, then keywords and punctuation.
    expected = sorted({display.get(name, name) for name in names}, key=lambda shown: (shown[0] == '"', shown))
    if len(expected) > _MAX_EXPECTED:
        expected = [*expected[:_MAX_EXPECTED], "..."]
    hint = f" (expected {', '.join(expected)})" if expected else ""
    if token.type == "$END":
        return Diagnostic(f"unexpected end of input{hint}", _end_position(text, filename))
    shown = f"// {token.value}" if token.type == "COMMENT" else str(token.value)
    return Diagnostic(f"unexpected token {quote(shown)}{hint}", Position(filename, token.line, token.column))


def _end_position(text: str, filename: str) -> Position:
    """Just after the last non-blank character."""
    content = text.rstrip()
    line_start = content.rfind("\n") + 1
    return Position(filename, content.count("\n") + 1, len(content) - line_start + 1)


def _cached_lark(grammar: str, builder: AstBuilder) -> Lark:
    """The parser, its tables loaded from the user's cache when there (~20x faster than building).

    A new cache file is written beside its final name and renamed into place, so a concurrent run
    never reads half of one; files left by older grammars are removed then.
    """
    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": SchemaLexer,
        "start": list(_START),
        "maybe_placeholders": True,
        "transformer": builder,
    }
    cache = _cache_file(grammar)
    if cache is None or cache.exists():
        return Lark(grammar, cache=str(cache) if cache else False, **options)
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    parser = Lark(grammar, cache=str(temporary), **options)
    try:
        os.replace(temporary, cache)
    except OSError:
        temporary.unlink(missing_ok=True)
        return parser
    for stale in cache.parent.glob("schema-grammar-*.lark"):  # from other versions of the grammar
        if stale != cache:
            stale.unlink(missing_ok=True)
    return parser


def _cache_file(grammar: str) -> Path | None:
    """`~/.cache/ftl/schema-grammar-<hash>.lark` (honouring XDG_CACHE_HOME), or None if unusable."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(f"{grammar}{lark.__version__}".encode()).hexdigest()[:16]
    directory = Path(base) / "ftl"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return directory / f"schema-grammar-{digest}.lark"
