"""`+cron` verbs: a valid pattern (`ftl.schema.cron`) on a verb that is Unit -> Unit."""

from __future__ import annotations

from functools import lru_cache

from ftl.schema import ast
from ftl.schema._gostrings import quote
from ftl.schema.cron import CronError, parse_cron
from ftl.schema.validate._context import Report

__all__ = ["check_cron_jobs"]


def check_cron_jobs(module: ast.Module, report: Report) -> None:
    for verb in module.verbs():
        for md in verb.metadata:
            if not isinstance(md, ast.MetadataCronJob):
                continue
            problem = _cron_problem(md.cron)
            if problem is not None:
                report.error(
                    f"verb {verb.name}: invalid cron expression {quote(md.cron)}: {problem}", md.pos, verb.pos
                )
            if not isinstance(verb.request, ast.Unit):
                report.error(f"verb {verb.name}: cron job can not have a request type", md.pos, verb.pos)
            if not isinstance(verb.response, ast.Unit):
                report.error(f"verb {verb.name}: cron job can not have a response type", md.pos, verb.pos)


@lru_cache(maxsize=1024)
def _cron_problem(text: str) -> str | None:
    try:
        parse_cron(text)
    except CronError as exc:
        return str(exc)
    return None
