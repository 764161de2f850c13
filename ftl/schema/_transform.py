"""Builds the frozen AST while the LALR parser reduces (no parse tree is ever built).

Each method is the callback of the `grammar.lark` rule (or terminal) of the same name; it gets the
rule's children with `_`-terminals dropped and `[optional]` parts present as None. A node's
position is its first token: the first doc comment, else `export`, else the keyword.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any

from lark import Token, Transformer

from ftl.errors import Position
from ftl.schema import ast
from ftl.schema._lexer import SchemaSyntaxError, unquote_at

_INT64_MAX = 2**63 - 1
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_VISIBILITY = {"EXPORT": ast.Visibility.MODULE, "EXPORT_REALM": ast.Visibility.REALM}
_METADATA_TYPES = typing.get_args(ast.Metadata)


class _Splice:
    """What a `x*` helper rule reduces to: the parent rule only reads `.children`."""

    __slots__ = ("children",)

    def __init__(self, children: list[Any]) -> None:
        self.children = children


def _texts(comments: list[Token]) -> tuple[str, ...]:
    return tuple(comment.value for comment in comments)


def _visibility(keyword: Token | None) -> ast.Visibility:
    """What an optional `export` / `export realm` token says."""
    return _VISIBILITY[keyword.type] if keyword is not None else ast.Visibility.NONE


def _primitive(node: type[ast.Primitive]) -> Callable[[AstBuilder, Token], ast.Primitive]:
    def build(builder: AstBuilder, token: Token) -> ast.Primitive:
        return node(pos=builder._pos(token))

    return build


class AstBuilder(Transformer[Token, Any]):
    """The rule callbacks; `filename` goes into every position (set it before each parse)."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.filename = ""

    # -- helpers ---------------------------------------------------------------------------------

    def _pos(self, token: Token) -> Position:
        return Position(self.filename, token.line, token.column)  # type: ignore[arg-type]

    def _decl_pos(self, comments: list[Token], first: Token) -> Position:
        return self._pos(comments[0] if comments else first)

    @staticmethod
    def _leading_comments(children: list[Any]) -> tuple[list[Token], list[Any]]:
        """The doc comments a rule starts with (its `COMMENT*`), and the children after them."""
        count = 0
        for child in children:
            if not isinstance(child, Token) or child.type != "COMMENT":
                break
            count += 1
        return children[:count], children[count:]

    @staticmethod
    def _string(token: Token) -> str:
        return unquote_at(token.value, token.line, token.column)  # type: ignore[arg-type]

    @staticmethod
    def _integer(token: Token) -> int:
        value = int(token.value)
        if value > _INT64_MAX:
            raise SchemaSyntaxError(f"integer {token.value} is out of range", token.line, token.column)  # type: ignore[arg-type]
        return value

    @staticmethod
    def _split_metadata(items: list[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Leading metadata items, then the rest."""
        count = 0
        for item in items:
            if not isinstance(item, _METADATA_TYPES):
                break
            count += 1
        return tuple(items[:count]), tuple(items[count:])

    def __default__(self, data: Any, children: list[Any], meta: Any) -> _Splice:
        # Only Lark's own list helpers (`x*`) have no method here; their parent splices them in.
        return _Splice(children)

    # -- documents -------------------------------------------------------------------------------

    def schema(self, children: list[ast.Realm]) -> ast.Schema:
        return ast.Schema(realms=tuple(children), pos=Position(self.filename, 1, 1))

    def module_document(self, children: list[ast.Module]) -> ast.Module:
        return children[0]

    def type_document(self, children: list[ast.Type]) -> ast.Type:
        return children[0]

    def ref_document(self, children: list[ast.Ref]) -> ast.Ref:
        return children[0]

    def realm(self, children: list[Any]) -> ast.Realm:
        external, keyword, name = children[0], children[1], children[2]
        return ast.Realm(
            name=name.value,
            modules=tuple(children[4:]),
            external=external is not None,
            pos=self._pos(external or keyword),
        )

    def module(self, children: list[Any]) -> ast.Module:
        comments, children = self._leading_comments(children)
        builtin, keyword, name = children[0], children[1], children[2]
        metadata, decls = self._split_metadata(children[4:])
        return ast.Module(
            name=name.value,
            decls=decls,
            builtin=builtin is not None,
            comments=_texts(comments),
            metadata=metadata,
            pos=self._decl_pos(comments, builtin or keyword),
        )

    # -- declarations ----------------------------------------------------------------------------

    def data(self, children: list[Any]) -> ast.Data:
        comments, children = self._leading_comments(children)
        visibility, keyword, name, params = children[:4]
        metadata, fields = self._split_metadata(children[5:])
        return ast.Data(
            name=name.value,
            fields=fields,
            type_params=params or (),
            visibility=_visibility(visibility),
            comments=_texts(comments),
            metadata=metadata,
            pos=self._decl_pos(comments, visibility or keyword),
        )

    def type_params(self, children: list[Token]) -> tuple[ast.TypeParameter, ...]:
        return tuple(ast.TypeParameter(name=token.value, pos=self._pos(token)) for token in children)

    def field(self, children: list[Any]) -> ast.Field:
        comments, children = self._leading_comments(children)
        name, type_ = children[0], children[1]
        return ast.Field(
            name=name.value,
            type=type_,
            comments=_texts(comments),
            metadata=tuple(children[2:]),
            pos=self._decl_pos(comments, name),
        )

    def verb(self, children: list[Any]) -> ast.Verb:
        comments, children = self._leading_comments(children)
        visibility, keyword, name, request, response = children[:5]
        return ast.Verb(
            name=name.value,
            request=request,
            response=response,
            visibility=_visibility(visibility),
            comments=_texts(comments),
            metadata=tuple(children[5:]),
            pos=self._decl_pos(comments, visibility or keyword),
        )

    def enum(self, children: list[Any]) -> ast.Enum:
        comments, children = self._leading_comments(children)
        visibility, keyword, name, base = children[:4]
        return ast.Enum(
            name=name.value,
            variants=tuple(children[5:]),
            type=base,
            visibility=_visibility(visibility),
            comments=_texts(comments),
            pos=self._decl_pos(comments, visibility or keyword),
        )

    def variant(self, children: list[Any]) -> ast.EnumVariant:
        comments, children = self._leading_comments(children)
        name, raw = children
        value: ast.Value
        if not isinstance(raw, Token):
            value = ast.TypeValue(value=raw, pos=raw.pos)
        elif raw.type == "STRING":
            value = ast.StringValue(value=self._string(raw), pos=self._pos(raw))
        else:
            value = ast.IntValue(value=self._integer(raw), pos=self._pos(raw))
        return ast.EnumVariant(
            name=name.value,
            value=value,
            comments=_texts(comments),
            pos=self._decl_pos(comments, name),
        )

    def typealias(self, children: list[Any]) -> ast.TypeAlias:
        comments, children = self._leading_comments(children)
        visibility, keyword, name, type_ = children[:4]
        return ast.TypeAlias(
            name=name.value,
            type=type_,
            visibility=_visibility(visibility),
            comments=_texts(comments),
            metadata=tuple(children[4:]),
            pos=self._decl_pos(comments, visibility or keyword),
        )

    def config(self, children: list[Any]) -> ast.Config:
        comments, children = self._leading_comments(children)
        keyword, name, type_ = children
        return ast.Config(
            name=name.value,
            type=type_,
            comments=_texts(comments),
            pos=self._decl_pos(comments, keyword),
        )

    def secret(self, children: list[Any]) -> ast.Secret:
        comments, children = self._leading_comments(children)
        keyword, name, type_ = children
        return ast.Secret(
            name=name.value,
            type=type_,
            comments=_texts(comments),
            pos=self._decl_pos(comments, keyword),
        )

    def database(self, children: list[Any]) -> ast.Database:
        comments, children = self._leading_comments(children)
        keyword, engine, name = children[:3]
        return ast.Database(
            name=name.value,
            engine=engine.value,
            comments=_texts(comments),
            metadata=tuple(children[3:]),
            pos=self._decl_pos(comments, keyword),
        )

    def topic(self, children: list[Any]) -> ast.Topic:
        comments, children = self._leading_comments(children)
        visibility, keyword, name, event = children[:4]
        return ast.Topic(
            name=name.value,
            event=event,
            visibility=_visibility(visibility),
            comments=_texts(comments),
            metadata=tuple(children[4:]),
            pos=self._decl_pos(comments, visibility or keyword),
        )

    # -- types -----------------------------------------------------------------------------------

    # The primitive type keywords, each a node placed at its token.
    T_INT = _primitive(ast.Int)
    T_FLOAT = _primitive(ast.Float)
    T_STRING = _primitive(ast.String)
    T_BYTES = _primitive(ast.Bytes)
    T_BOOL = _primitive(ast.Bool)
    T_TIME = _primitive(ast.Time)
    T_UNIT = _primitive(ast.Unit)
    T_ANY = _primitive(ast.Any)

    def optional(self, children: list[ast.Type]) -> ast.Optional:
        return ast.Optional(type=children[0], pos=children[0].pos)

    def array(self, children: list[Any]) -> ast.Array:
        return ast.Array(element=children[1], pos=self._pos(children[0]))

    def map(self, children: list[Any]) -> ast.Map:
        return ast.Map(key=children[1], value=children[2], pos=self._pos(children[0]))

    def ref(self, children: list[Any]) -> ast.Ref:
        first = children[0]
        if len(children) == 3:  # QNAME: `module.name` as one token
            type_args, realm = children[1], children[2]
            module, _, name = first.value.partition(".")
        else:
            second, type_args, realm = children[1], children[2], children[3]
            module, name = (first.value, second.value) if second is not None else ("", first.value)
        return ast.Ref(
            module=module,
            name=name,
            type_args=type_args or (),
            realm=realm.value if realm is not None else "",
            pos=self._pos(first),
        )

    def type_args(self, children: list[ast.Type]) -> tuple[ast.Type, ...]:
        return tuple(children)

    # -- metadata --------------------------------------------------------------------------------

    def md_calls(self, children: list[Any]) -> ast.MetadataCalls:
        return ast.MetadataCalls(calls=tuple(children[1:]), pos=self._pos(children[0]))

    def md_config(self, children: list[Any]) -> ast.MetadataConfig:
        return ast.MetadataConfig(config=tuple(children[2:]), pos=self._pos(children[0]))

    def md_secrets(self, children: list[Any]) -> ast.MetadataSecrets:
        return ast.MetadataSecrets(secrets=tuple(children[1:]), pos=self._pos(children[0]))

    def md_publish(self, children: list[Any]) -> ast.MetadataPublisher:
        return ast.MetadataPublisher(topics=tuple(children[1:]), pos=self._pos(children[0]))

    def md_databases(self, children: list[Any]) -> ast.MetadataDatabases:
        return ast.MetadataDatabases(uses=tuple(children[2:]), pos=self._pos(children[0]))

    def md_ingress(self, children: list[Any]) -> ast.MetadataIngress:
        plus, method, path = children[0], children[-2], children[-1]
        components: list[ast.IngressPathComponent] = []
        offset = 1
        for part in path.value[1:].split("/") if path.value != "/" else ():
            pos = Position(self.filename, path.line, path.column + offset)
            if part.startswith("{"):
                components.append(ast.IngressPathParameter(name=part[1:-1], pos=pos))
            else:
                components.append(ast.IngressPathLiteral(text=part, pos=pos))
            offset += len(part) + 1
        return ast.MetadataIngress(method=method.value, path=tuple(components), pos=self._pos(plus))

    def md_cron(self, children: list[Any]) -> ast.MetadataCronJob:
        return ast.MetadataCronJob(cron=children[1].value, pos=self._pos(children[0]))

    def md_alias(self, children: list[Any]) -> ast.MetadataAlias:
        plus, kind, alias = children
        try:
            alias_kind = ast.AliasKind(kind.value.lower())
        except ValueError:
            raise SchemaSyntaxError(
                f'unknown alias kind "{kind.value}" (expected json or unspecified)', kind.line, kind.column
            ) from None
        return ast.MetadataAlias(alias_kind=alias_kind, alias=self._string(alias), pos=self._pos(plus))

    def md_retry(self, children: list[Any]) -> ast.MetadataRetry:
        plus, count, min_backoff, max_backoff, catch = children
        return ast.MetadataRetry(
            count=self._integer(count) if count is not None else None,
            min_backoff=min_backoff.value if min_backoff is not None else "",
            max_backoff=max_backoff.value if max_backoff is not None else "",
            catch=catch,
            pos=self._pos(plus),
        )

    def md_subscribe(self, children: list[Any]) -> ast.MetadataSubscriber:
        plus, topic, offset, dead_letter = children
        return ast.MetadataSubscriber(
            topic=topic,
            from_offset=ast.FromOffset(offset.value),
            dead_letter=dead_letter is not None,
            pos=self._pos(plus),
        )

    def md_typemap(self, children: list[Any]) -> ast.MetadataTypeMap:
        plus, runtime, native = children
        return ast.MetadataTypeMap(
            runtime=runtime.value, native_name=self._string(native), pos=self._pos(plus)
        )

    def md_encoding(self, children: list[Any]) -> ast.MetadataEncoding:
        return ast.MetadataEncoding(lenient=children[-1] is not None, pos=self._pos(children[0]))

    def md_migration(self, children: list[Any]) -> ast.MetadataSQLMigration:
        return ast.MetadataSQLMigration(digest=children[1].value, pos=self._pos(children[0]))

    def md_artefact(self, children: list[Any]) -> ast.MetadataArtefact:
        plus, path, digest, executable = children
        digest_value = self._string(digest)
        if not _HEX_DIGEST.fullmatch(digest_value):
            raise SchemaSyntaxError("artefact digest must be 64 hex digits", digest.line, digest.column)
        return ast.MetadataArtefact(
            path=self._string(path),
            digest=digest_value,
            executable=executable is not None,
            pos=self._pos(plus),
        )

    def md_partitions(self, children: list[Any]) -> ast.MetadataPartitions:
        return ast.MetadataPartitions(partitions=self._integer(children[1]), pos=self._pos(children[0]))

    def md_sql_query(self, children: list[Any]) -> ast.MetadataSQLQuery:
        plus, command, query = children
        return ast.MetadataSQLQuery(command=command.value, query=self._string(query), pos=self._pos(plus))

    def md_sql_column(self, children: list[Any]) -> ast.MetadataSQLColumn:
        plus, table, name = children
        return ast.MetadataSQLColumn(
            table=self._string(table) if table.type == "STRING" else table.value,
            name=self._string(name) if name.type == "STRING" else name.value,
            pos=self._pos(plus),
        )

    def md_generated(self, children: list[Any]) -> ast.MetadataGenerated:
        return ast.MetadataGenerated(pos=self._pos(children[0]))

    def md_git(self, children: list[Any]) -> ast.MetadataGit:
        plus, repository, commit, dirty = children
        return ast.MetadataGit(
            repository=self._string(repository),
            commit=self._string(commit),
            dirty=dirty is not None,
            pos=self._pos(plus),
        )

    def md_fixture(self, children: list[Any]) -> ast.MetadataFixture:
        return ast.MetadataFixture(manual=children[-1] is not None, pos=self._pos(children[0]))

    def md_transaction(self, children: list[Any]) -> ast.MetadataTransaction:
        return ast.MetadataTransaction(pos=self._pos(children[0]))

    def md_egress(self, children: list[Any]) -> ast.MetadataEgress:
        return ast.MetadataEgress(
            targets=tuple(self._string(target) for target in children[1:]), pos=self._pos(children[0])
        )

    def md_image(self, children: list[Any]) -> ast.MetadataImage:
        plus, image, digest = children
        return ast.MetadataImage(image=self._string(image), digest=self._string(digest), pos=self._pos(plus))
