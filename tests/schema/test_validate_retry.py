"""`+retry` (validate/retry.py)."""

from __future__ import annotations

import pytest
from validate_support import messages, realm, validated

_SUBSCRIBER = """
module m {{
  data E {{}}
  topic t m.E
  verb catcher(builtin.CatchRequest<m.E>) Unit
  verb anyCatcher(builtin.CatchRequest<Any>) Unit
  verb s(m.E) Unit
    +subscribe m.t from=beginning
    +retry {retry}
}}
"""


def _retry_messages(retry: str) -> list[str]:
    return messages(realm(_SUBSCRIBER.format(retry=retry)))


@pytest.mark.parametrize(
    "retry", ["10 5s 20m", "1m5s 1h catch anyCatcher", "1 1s catch m.catcher", "0 catch m.catcher", "0", "5s"]
)
def test_valid_retries(retry: str) -> None:
    validated(realm(_SUBSCRIBER.format(retry=retry)))


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        ("", "retry must have a minimum backoff"),
        ("1", "retry must have a minimum backoff"),
        ("0s", "could not parse min backoff duration: retry must have a minimum backoff of 1s"),
        ("1d1s", "could not parse min backoff duration: retry backoff can not be larger than 1d"),
        ("1s 2d", "could not parse max backoff duration: retry backoff can not be larger than 1d"),
        ("1m 1s", "max backoff duration (1s) needs to be at least as long as initial backoff (1m)"),
        ("0 5s", "can not define a backoff duration when retry count is 0 and no catch is declared"),
        (
            "2mins",
            "could not parse min backoff duration: could not parse retry duration: duration has unknown "
            "unit \"mins\" - use 'd', 'h', 'm' or 's', eg '1d' or '30s'",
        ),
    ],
)
def test_invalid_retries(retry: str, message: str) -> None:
    assert _retry_messages(retry) == [message]


def test_catch_verbs() -> None:
    assert _retry_messages("1 1s catch m.E") == ["expected catch to be a verb"]
    assert _retry_messages("1 1s catch m.s") == [
        "catch verb must have a request type of builtin.CatchRequest<m.E> or builtin.CatchRequest<Any>, "
        "but found m.E"
    ]
    assert _retry_messages("1 1s catch m.nope") == [
        'could not resolve catch verb "m.nope"',
        'unknown reference "m.nope", is the type annotated and exported?',
    ]


def test_retries_only_on_subscribers() -> None:
    text = realm("""
    module m {
      verb v(Unit) Unit
        +retry 1 1s
    }
    """)
    assert messages(text) == ["retries can only be added to subscribers"]
