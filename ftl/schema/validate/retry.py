"""`+retry` on subscribers: count, backoff durations and the catch verb (spec section 5.3)."""

from __future__ import annotations

from ftl.schema import ast
from ftl.schema.duration import DurationError, parse_duration
from ftl.schema.printer import print_type
from ftl.schema.validate._context import RealmIndex, Report, is_builtin

__all__ = ["DEFAULT_RETRY_COUNT", "check_retries"]

DEFAULT_RETRY_COUNT = 10
_MIN_BACKOFF_S = 1
_MAX_BACKOFF_S = 86_400


def check_retries(module: ast.Module, index: RealmIndex, report: Report, realm_wide: bool) -> None:
    for verb in module.verbs():
        subscribed = any(isinstance(md, ast.MetadataSubscriber) for md in verb.metadata)
        for md in verb.metadata:
            if not isinstance(md, ast.MetadataRetry):
                continue
            if not subscribed:
                report.error("retries can only be added to subscribers", md.pos, verb.pos)
                continue
            _check_retry(module, verb, md, index, report, realm_wide)


def _check_retry(
    module: ast.Module,
    verb: ast.Verb,
    retry: ast.MetadataRetry,
    index: RealmIndex,
    report: Report,
    realm_wide: bool,
) -> None:
    count = DEFAULT_RETRY_COUNT if retry.count is None else retry.count
    if count < 0:
        report.error("retry count can not be negative", retry.pos, verb.pos)
    problem = _backoff_problem(retry, count)
    if problem is not None:
        report.error(problem, retry.pos, verb.pos)
        return
    if count == 0 and retry.min_backoff and retry.catch is None:
        report.error(
            "can not define a backoff duration when retry count is 0 and no catch is declared",
            retry.pos,
            verb.pos,
        )
    if retry.catch is not None:
        _check_catch(module, verb, retry, retry.catch, index, report, realm_wide)


def _backoff_problem(retry: ast.MetadataRetry, count: int) -> str | None:
    minimum = 0
    if retry.min_backoff:
        try:
            minimum = _retry_seconds(retry.min_backoff)
        except DurationError as exc:
            return f"could not parse min backoff duration: {exc}"
    elif count != 0:
        return "retry must have a minimum backoff"
    if retry.max_backoff:
        try:
            maximum = _retry_seconds(retry.max_backoff)
        except DurationError as exc:
            return f"could not parse max backoff duration: {exc}"
        if minimum > maximum:
            return (
                f"max backoff duration ({retry.max_backoff}) needs to be at least as long as "
                f"initial backoff ({retry.min_backoff})"
            )
    return None


def _retry_seconds(text: str) -> int:
    try:
        seconds = parse_duration(text).total_seconds
    except DurationError as exc:
        raise DurationError(f"could not parse retry duration: {exc}") from None
    if seconds < _MIN_BACKOFF_S:
        raise DurationError("retry must have a minimum backoff of 1s")
    if seconds > _MAX_BACKOFF_S:
        raise DurationError("retry backoff can not be larger than 1d")
    return seconds


def _check_catch(
    module: ast.Module,
    verb: ast.Verb,
    retry: ast.MetadataRetry,
    ref: ast.Ref,
    index: RealmIndex,
    report: Report,
    realm_wide: bool,
) -> None:
    catch = index.resolve(ref, (ast.Verb,))
    if catch is None:
        if realm_wide or ref.module == module.name:
            report.error(f'could not resolve catch verb "{print_type(ref)}"', retry.pos, verb.pos)
        return
    if not isinstance(catch, ast.Verb):
        report.error("expected catch to be a verb", retry.pos, verb.pos)
        return
    request = catch.request
    if not (
        isinstance(request, ast.Ref)
        and is_builtin(request, "CatchRequest")
        and len(request.type_args) == 1
        and (request.type_args[0] == verb.request or isinstance(request.type_args[0], ast.Any))
    ):
        report.error(
            f"catch verb must have a request type of builtin.CatchRequest<{print_type(verb.request)}> "
            f"or builtin.CatchRequest<Any>, but found {print_type(request)}",
            retry.pos,
            verb.pos,
        )
    if not isinstance(catch.response, ast.Unit):
        report.error(
            f"catch verb must not have a response type but found {print_type(catch.response)}",
            retry.pos,
            verb.pos,
        )
