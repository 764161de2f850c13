"""Schema text to HTML with `<span class="tok-...">` around each token, for the console's pages.

Works line by line on printed schema text (the printer's layout: one declaration head, field,
metadata item or comment per line) and follows braces, so keywords are recognised where the
printer puts them and a field that happens to be called `data` stays a field. Any text
highlights: what is not recognised is escaped and left plain. References can become links
(`link` maps `module.Name` to a URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from markupsafe import Markup, escape

__all__ = ["LinkRef", "highlight_schema"]

LinkRef = Callable[[str], str | None]

HEAD_KEYWORDS = frozenset(
    {
        "builtin",
        "config",
        "data",
        "database",
        "enum",
        "export",
        "external",
        "module",
        "realm",
        "secret",
        "topic",
        "typealias",
        "verb",
    }
)
PRIMITIVES = frozenset({"Int", "Float", "String", "Bytes", "Bool", "Time", "Unit", "Any"})
# Metadata whose name is two words.
_TWO_WORD_METADATA = {"+sql": ("query", "column"), "+database": ("uses",)}

_TOKEN = re.compile(
    r"""
    (?P<comment>//.*)
  | (?P<meta>\+[A-Za-z]+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<ref>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:@[A-Za-z_]\w*)?)
  | (?P<word>[A-Za-z_]\w*(?:@[A-Za-z_]\w*)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[a-z]+\d*)*)
  | (?P<punct>[{}\[\]()<>:?,=/*])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)


def highlight_schema(text: str, link: LinkRef | None = None) -> Markup:
    """`text` as escaped HTML with every token wrapped in a span (and refs linked when `link` says)."""
    lines = []
    # What each open brace holds: declarations (realm, module) or members (data fields, enum variants).
    blocks: list[str] = []
    for line in text.split("\n"):
        body = line.strip()
        if body.startswith("}") and blocks:
            blocks.pop()
        in_members = bool(blocks) and blocks[-1] == "members"
        lines.append(_line(line, link, in_members))
        if body.endswith("{") and not body.startswith("//"):
            words = set(body.split())
            blocks.append("members" if not in_members and words & {"data", "enum"} else "decls")
    return Markup("\n").join(lines)


def _span(kind: str, text: str) -> Markup:
    return Markup('<span class="tok-{}">{}</span>').format(kind, text)


def _line(line: str, link: LinkRef | None, in_members: bool) -> Markup:
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)]
    out: list[Markup] = [escape(indent)]
    if body.startswith("//"):
        out.append(_span("comment", body))
        return Markup("").join(out)
    if body.startswith("+"):
        name, rest = _metadata_name(body)
        out.append(_span("meta", name))
        out.extend(_tokens(rest, link))
        return Markup("").join(out)
    out.extend(_head_or_member(body, link, in_members))
    return Markup("").join(out)


def _metadata_name(body: str) -> tuple[str, str]:
    match = re.match(r"\+[A-Za-z]+", body)
    if match is None:
        return body[:1], body[1:]
    end = match.end()
    for second in _TWO_WORD_METADATA.get(match.group(), ()):
        follow = re.match(rf"\s+{second}\b", body[end:])
        if follow:
            end += follow.end()
            break
    return body[:end], body[end:]


def _head_or_member(body: str, link: LinkRef | None, in_members: bool) -> Iterator[Markup]:
    """`export data Name<T> {`, `verb name(Req) Resp`, or (in a data or enum) `name Type`."""
    position = 0
    saw_keyword = False
    for match in _TOKEN.finditer(body):
        kind, text = match.lastgroup, match.group()
        if kind == "space":
            yield escape(text)
            continue
        if kind == "word" and not in_members and text in HEAD_KEYWORDS:
            saw_keyword = True
            yield _span("kw", text)
            # `database postgres name`: the engine is a keyword-like word before the name.
            if text == "database":
                yield from _database_rest(body[match.end() :], link)
                return
            continue
        if kind == "word":
            yield _span("decl" if saw_keyword else "field", text)
            position = match.end()
            break
        position = match.start()
        break
    else:
        return
    yield from _tokens(body[position:], link)


def _database_rest(rest: str, link: LinkRef | None) -> Iterator[Markup]:
    match = re.match(r"(\s+)([A-Za-z_]\w*)(\s+)([A-Za-z_]\w*)", rest)
    if match is None:
        yield from _tokens(rest, link)
        return
    yield escape(match.group(1))
    yield _span("kw", match.group(2))
    yield escape(match.group(3))
    yield _span("decl", match.group(4))
    yield from _tokens(rest[match.end() :], link)


def _tokens(text: str, link: LinkRef | None) -> Iterator[Markup]:
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind == "space" or kind == "other":
            yield escape(value)
        elif kind == "ref":
            yield _ref(value, link)
        elif kind == "word":
            bare = value.split("@", 1)[0]
            if bare in PRIMITIVES:
                yield _span("prim", value)
            elif value[:1].isupper():
                yield _span("type", value)
            else:
                yield _span("word", value)
        elif kind is not None:
            yield _span(kind, value)


def _ref(text: str, link: LinkRef | None) -> Markup:
    url = link(text) if link is not None else None
    if url is None:
        return _span("ref", text)
    return Markup('<a class="tok-ref" href="{}">{}</a>').format(url, text)
