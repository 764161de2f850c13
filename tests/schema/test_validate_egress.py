"""`+egress` placeholders (validate/egress.py)."""

from __future__ import annotations

from validate_support import errors, realm, validated


def test_placeholders_name_configs_of_the_module() -> None:
    text = realm("""
    module m {
      config host String
      verb v(Unit) Unit
        +egress "https://${host}/x", "${port}"
    }
    """)
    assert errors(text) == ['6:5: egress target "${port}" references unknown config "port"']


def test_plain_targets_need_no_config() -> None:
    validated(realm('module m { verb v(Unit) Unit +egress "https://example.com" }'))
