"""Cron patterns as `+cron` takes them: parsing, validation with upstream's messages, next fire time.

Three forms, as upstream's `common/cron`:

* a shorthand interval `Ns`, `Nm` or `Nh` (one unit; steps restart each minute, hour or day);
* a day name `Mon` ... `Sun` (any case): midnight UTC on that day;
* a crontab of 5 (`min hour dom month dow`), 6 (seconds first, or a year last when its last field
  holds a number >= 1000) or 7 (`sec min hour dom month dow year`) fields, each a comma list of
  `*`, `N` or `N-M`, optionally `/STEP`.

Every form becomes seven fields (`standardized`), which are read with the value ranges and rules
of the crontab library upstream hands them to (`hashicorp/cronexpr`): out-of-range values are
syntax errors, a step above the field's maximum is an invalid interval, a reversed range matches
nothing, 7 is Sunday, and day-of-month and day-of-week combine with OR when both are restricted.
A pattern that never fires at or after 2020-01-01 is rejected. All times are UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ftl.schema._gostrings import quote
from ftl.schema.duration import DurationError, parse_duration

__all__ = ["CronError", "CronPattern", "next_after", "parse_cron"]


class CronError(ValueError):
    """A pattern that is not valid, or that never fires again; str() is the message."""


@dataclass(frozen=True, slots=True)
class CronPattern:
    """A parsed pattern: the text as written, its seven-field form, and the values of each field."""

    text: str
    standardized: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: tuple[int, ...]
    days_of_week: frozenset[int]
    years: tuple[int, ...]
    dom_restricted: bool
    dow_restricted: bool

    def __str__(self) -> str:
        return self.text


def parse_cron(text: str) -> CronPattern:
    """The pattern in `text`, or CronError with upstream's message."""
    syntax = _Parser(_tokens(text)).pattern()
    fields = _standardize(syntax)
    pattern = _compile(syntax.text, fields)
    next_after(pattern, _VALIDATION_ORIGIN, inclusive=True)  # a pattern must fire at least once
    return pattern


def next_after(pattern: CronPattern, origin: datetime, inclusive: bool = False) -> datetime:
    """The first fire time after `origin` (or at it, when `inclusive`), in UTC, to the second.

    As upstream, `inclusive` means "search from one second earlier", except at the Unix epoch.
    A naive `origin` is taken as UTC.
    """
    if origin.tzinfo is None:
        origin = origin.replace(tzinfo=UTC)
    seconds = calendar.timegm(origin.astimezone(UTC).utctimetuple())
    if inclusive and seconds != 0:
        seconds -= 1
    found = _first_match_from(pattern, _EPOCH + timedelta(seconds=seconds + 1))
    if found is None:
        raise CronError(f"unable to find next timeout for {pattern.text}")
    return found


# ---------------------------------------------------------------------------------------------
# The pattern grammar (upstream's participle grammar): tokens, then one of three forms.

_VALIDATION_ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)|(?P<comment>//.*)|(?P<string>\"(?:\\.|[^\"])*\")"
    r"|(?P<number>[0-9]+(?:\.[0-9]+)?)|(?P<punct>[%/\-_:\[\]{}<>()*+?.,\\^$|#~!'@])"
)
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_SHORTHAND_UNITS = frozenset({"s", "m", "h"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, comment, string, number, punct, eof
    value: str
    column: int
    line: int = 1


@dataclass(frozen=True, slots=True)
class _Step:
    start: int | None  # None for `*`
    end: int | None
    step: int | None

    def __str__(self) -> str:
        text = "*" if self.start is None else str(self.start)
        if self.end is not None:
            text += f"-{self.end}"
        return text if self.step is None else f"{text}/{self.step}"


_Component = tuple[_Step, ...]


@dataclass(frozen=True, slots=True)
class _Syntax:
    """What the grammar read: exactly one of the three forms."""

    text: str  # upstream's String() of the pattern, used in "unable to find next timeout"
    shorthand: str | None = None
    day_of_week: str | None = None
    components: tuple[_Component, ...] = ()


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    offset, line, line_start = 0, 1, 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            raise CronError(f"{line}:{offset - line_start + 1}: invalid input text {quote(text[offset:])}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind != "ws":
            tokens.append(_Token(kind, value, offset - line_start + 1, line))
        else:
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = offset + value.rfind("\n") + 1
        offset = match.end()
    tokens.append(_Token("eof", "<EOF>", offset - line_start + 1, line))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def fail(self, token: _Token) -> CronError:
        return CronError(f"{token.line}:{token.column}: unexpected token {quote(token.value)}")

    def pattern(self) -> _Syntax:
        first, second = self.peek(), self.peek(1)
        if first.kind == "number" and second.kind == "ident" and second.value.lower() in _SHORTHAND_UNITS:
            self.index = 2
            syntax = _Syntax(text=first.value + second.value, shorthand=first.value + second.value)
        elif first.kind == "ident" and first.value.lower() in _DAY_NAMES:
            self.index = 1
            syntax = _Syntax(text=first.value, day_of_week=first.value)
        else:
            components = []
            while self.starts_step():
                components.append(self.component())
            if not components:
                raise self.fail(self.peek())
            syntax = _Syntax(
                text=" ".join(",".join(str(step) for step in c) for c in components),
                components=tuple(components),
            )
        if self.peek().kind != "eof":
            raise self.fail(self.peek())
        return syntax

    def starts_step(self) -> bool:
        token = self.peek()
        return token.kind == "number" or (token.kind == "punct" and token.value == "*")

    def component(self) -> _Component:
        steps = [self.step()]
        while self.peek().kind == "punct" and self.peek().value == ",":
            self.index += 1
            if not self.starts_step():
                raise self.fail(self.peek())
            steps.append(self.step())
        return tuple(steps)

    def step(self) -> _Step:
        start: int | None = None
        end: int | None = None
        if self.peek().kind == "punct":  # `*`
            self.index += 1
        else:
            start = self.number()
            if self.peek().kind == "punct" and self.peek().value == "-":
                self.index += 1
                end = self.number()
        step: int | None = None
        if self.peek().kind == "punct" and self.peek().value == "/":
            self.index += 1
            step = self.number()
        return _Step(start, end, step)

    def number(self) -> int:
        token = self.peek()
        if token.kind != "number":
            raise self.fail(token)
        if not token.value.isdigit():
            raise CronError(f"{token.line}:{token.column}: invalid integer {quote(token.value)}")
        self.index += 1
        return int(token.value)


# ---------------------------------------------------------------------------------------------
# The seven-field form


def _standardize(syntax: _Syntax) -> list[str]:
    if syntax.shorthand is not None:
        return _shorthand_fields(syntax.shorthand)
    if syntax.day_of_week is not None:
        return ["0", "0", "0", "*", "*", str(_DAY_NAMES[syntax.day_of_week.lower()]), "*"]
    fields = [",".join(str(step) for step in component) for component in syntax.components]
    count = len(fields)
    if count == 5:
        return ["0", *fields, "*"]
    if count == 6:
        if _looks_like_year(syntax.components[5]):
            return ["0", *fields]
        return [*fields, "*"]
    if count == 7:
        return fields
    raise CronError(f"expected 5-7 components, got {count}")


def _looks_like_year(component: _Component) -> bool:
    return any(
        (step.start is not None and step.start >= 1000) or (step.end is not None and step.end >= 1000)
        for step in component
    )


def _shorthand_fields(text: str) -> list[str]:
    try:
        duration = parse_duration(text)
    except DurationError as exc:
        raise CronError(str(exc)) from None
    if duration.days:
        raise CronError("durations with days are not allowed")
    fields: list[str] = []
    seen_non_zero = False
    for value in (duration.seconds, duration.minutes, duration.hours):
        if value == 0:
            fields.append("*" if seen_non_zero else "0")
        else:
            if seen_non_zero:
                raise CronError("only one non-zero component is allowed")
            seen_non_zero = True
            fields.append(f"*/{value}")
    return [*fields, "*", "*", "*", "*"]


# ---------------------------------------------------------------------------------------------
# Reading the seven fields (cronexpr's rules)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    accepts: tuple[int, int]  # the values a field may spell (day-of-week also takes 7)


_FIELDS = (
    _Field("second", 0, 59, (0, 59)),
    _Field("minute", 0, 59, (0, 59)),
    _Field("hour", 0, 23, (0, 23)),
    _Field("day-of-month", 1, 31, (1, 31)),
    _Field("month", 1, 12, (1, 12)),
    _Field("day-of-week", 0, 6, (0, 7)),
    _Field("year", 1970, 2099, (1970, 2099)),
)
_DIRECTIVE = re.compile(r"(?:(\*)|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?")


def _compile(text: str, fields: list[str]) -> CronPattern:
    values: list[set[int]] = []
    restricted: list[bool] = []
    for spec, field in zip(fields, _FIELDS, strict=True):
        try:
            field_values, is_restricted = _read_field(spec, field)
        except CronError as exc:
            raise CronError(f"failed to parse cron expression: {exc}") from None
        values.append(field_values)
        restricted.append(is_restricted)
    return CronPattern(
        text=text,
        standardized=" ".join(fields),
        seconds=tuple(sorted(values[0])),
        minutes=tuple(sorted(values[1])),
        hours=tuple(sorted(values[2])),
        days_of_month=frozenset(values[3]),
        months=tuple(sorted(values[4])),
        days_of_week=frozenset(values[5]),
        years=tuple(sorted(values[6])),
        dom_restricted=restricted[3],
        dow_restricted=restricted[5],
    )


def _read_field(spec: str, field: _Field) -> tuple[set[int], bool]:
    """The values of one field, and whether it restricts (anything but a plain `*`)."""
    values: set[int] = set()
    restricted = True
    unreadable: str | None = None
    for directive in spec.split(","):
        match = _DIRECTIVE.fullmatch(directive)
        if match is None:
            unreadable = unreadable or directive
            continue
        star, start, end, step = match.groups()
        if star is not None and step is None:
            values.update(range(field.low, field.high + 1))
            restricted = False
            continue
        if not all(_spells(number, field) for number in (start, end) if number is not None):
            unreadable = unreadable or directive
            continue
        if start is not None and end is None and step is None:
            values.add(_value(start, field))
            continue
        first = field.low if star is not None else _value(start, field)
        last = _value(end, field) if end is not None else field.high
        interval = int(step) if step is not None else 1
        if step is not None and not 1 <= interval <= field.high:
            raise CronError(f"invalid interval {directive}")
        values.update(range(first, last + 1, interval))
    if unreadable is not None:
        raise CronError(f"syntax error in {field.name} field: '{unreadable}'")
    return values, restricted


def _spells(number: str, field: _Field) -> bool:
    low, high = field.accepts
    return low <= int(number) <= high


def _value(number: str | None, field: _Field) -> int:
    value = int(number or 0)
    # cronexpr reads day-of-week 7 as 0 (Sunday), so a range ending in 7 is reversed and empty.
    return 0 if field.name == "day-of-week" and value == 7 else value


# ---------------------------------------------------------------------------------------------
# Searching for the next fire time


def _first_match_from(pattern: CronPattern, start: datetime) -> datetime | None:
    """The earliest time >= `start` (whole seconds) that the pattern matches."""
    if not (pattern.seconds and pattern.minutes and pattern.hours and pattern.months and pattern.years):
        return None
    for year in pattern.years:
        if year < start.year:
            continue
        same_year = year == start.year
        for month in pattern.months:
            if same_year and month < start.month:
                continue
            same_month = same_year and month == start.month
            for day in _days(pattern, year, month):
                if same_month and day < start.day:
                    continue
                same_day = same_month and day == start.day
                for hour in pattern.hours:
                    if same_day and hour < start.hour:
                        continue
                    same_hour = same_day and hour == start.hour
                    for minute in pattern.minutes:
                        if same_hour and minute < start.minute:
                            continue
                        same_minute = same_hour and minute == start.minute
                        for second in pattern.seconds:
                            if same_minute and second < start.second:
                                continue
                            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return None


def _days(pattern: CronPattern, year: int, month: int) -> list[int]:
    first_weekday, length = calendar.monthrange(year, month)  # Monday is 0 here
    if not pattern.dom_restricted and not pattern.dow_restricted:
        return list(range(1, length + 1))
    days: set[int] = set()
    if pattern.dom_restricted:
        days.update(day for day in pattern.days_of_month if day <= length)
    if pattern.dow_restricted:
        sunday_based = (first_weekday + 1) % 7  # weekday of the 1st, Sunday = 0
        for weekday in pattern.days_of_week:
            days.update(range(1 + (weekday - sunday_based) % 7, length + 1, 7))
    return sorted(days)
