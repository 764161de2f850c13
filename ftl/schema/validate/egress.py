"""`+egress` targets: every `${name}` placeholder names a config of the same module."""

from __future__ import annotations

import re

from ftl.schema import ast
from ftl.schema._gostrings import quote
from ftl.schema.validate._context import Report

__all__ = ["check_egress"]

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def check_egress(module: ast.Module, report: Report) -> None:
    configs: set[str] | None = None
    for verb in module.verbs():
        for md in verb.metadata:
            if not isinstance(md, ast.MetadataEgress):
                continue
            if configs is None:
                configs = {d.name for d in module.decls if isinstance(d, ast.Config)}
            for target in md.targets:
                for name in _PLACEHOLDER.findall(target):
                    if name not in configs:
                        report.error(
                            f"egress target {quote(target)} references unknown config {quote(name)}",
                            md.pos,
                            verb.pos,
                        )
