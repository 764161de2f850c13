"""`<realm>-realm-endpoint` values: what `ftl config set` accepts and how it says what it wants."""

from __future__ import annotations

import pytest

from ftl.configstore import Key
from ftl.errors import FtlError
from ftl.realm.endpoints import check_realm_endpoint

KEY = Key("", "bank-realm-endpoint")


@pytest.mark.parametrize("value", ["not a url", 8892])
def test_the_hint_names_the_other_realms_ingress_not_its_admin_port(value: object) -> None:
    with pytest.raises(FtlError) as caught:
        check_realm_endpoint("bank", KEY, value)
    message = str(caught.value)
    assert message.startswith(
        "bank-realm-endpoint is where calls to realm 'bank' go: it must be an http:// or https:// URL"
    )
    assert 'that realm\'s ingress, such as "http://127.0.0.1:8891"' in message
    assert '8892"' not in message


def test_an_http_url_is_accepted() -> None:
    check_realm_endpoint("bank", KEY, "http://127.0.0.1:9891")
    check_realm_endpoint("bank", KEY, "https://bank.example.com")
