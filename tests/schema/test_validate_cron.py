"""`+cron` verbs (validate/cronjobs.py); the patterns themselves are tested in test_cron.py."""

from __future__ import annotations

from validate_support import errors, realm, validated


def test_cron_verbs_are_unit_to_unit() -> None:
    text = realm("""
    module m {
      verb a(Int) Unit
        +cron 5m
      verb b(Unit) Int
        +cron 5m
    }
    """)
    assert errors(text) == [
        "5:5: verb a: cron job can not have a request type",
        "7:5: verb b: cron job can not have a response type",
    ]


def test_invalid_patterns_are_reported_with_the_reason() -> None:
    text = realm("""
    module m {
      verb a(Unit) Unit
        +cron 1d
      verb b(Unit) Unit
        +cron 0 0 31 4 *
    }
    """)
    assert errors(text) == [
        '5:5: verb a: invalid cron expression "1d": 1:2: unexpected token "d"',
        '7:5: verb b: invalid cron expression "0 0 31 4 *": unable to find next timeout for 0 0 31 4 *',
    ]


def test_valid_patterns() -> None:
    validated(
        realm("""
        module m {
          verb a(Unit) Unit
            +cron Mon
          verb b(Unit) Unit
            +cron */10 * * 1-10,11-31 * * *
          verb c(Unit) Unit
            +cron 12h
        }
        """)
    )
