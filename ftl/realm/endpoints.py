"""Where calls to a pinned realm go: project config `<realm>-realm-endpoint`, an ingress URL.

(The dev server reads these; env `FTL_REALM_ENDPOINT_<REALM>` wins over them.) `ftl config set`
checks such a value here instead of against module declarations, which never name it.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ftl.configstore import Key, Kind
from ftl.errors import FtlError
from ftl.project import Project

ENDPOINT_SUFFIX = "-realm-endpoint"
ENDPOINT_ENV_PREFIX = "FTL_REALM_ENDPOINT_"
# A realm endpoint is the other realm's ingress (8891 under `ftl dev`), never its admin port 8892.
_EXAMPLE = '"http://127.0.0.1:8891"'


def realm_of_endpoint(kind: Kind, key: Key) -> str | None:
    """The realm whose endpoint `key` sets, or None when it is not a realm endpoint."""
    if kind != "config" or key.module or not key.name.endswith(ENDPOINT_SUFFIX):
        return None
    return key.name.removesuffix(ENDPOINT_SUFFIX) or None


def check_realm_endpoint(realm: str, key: Key, value: Any) -> None:
    """Refuse anything but an http(s) URL with a host."""
    problem = f"{key} is where calls to realm {realm!r} go: it must be an http:// or https:// URL"
    example = f"that realm's ingress, such as {_EXAMPLE}"
    if not isinstance(value, str):
        raise FtlError(f"{problem} string: {example}")
    url = urllib.parse.urlsplit(value)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise FtlError(f"{problem}: {example} (got {value!r})")


def unpinned_realm_problem(project: Project, realm: str) -> str | None:
    """Why an endpoint for `realm` will not be used (no such realm is pinned), or None."""
    pinned = [pin.name for pin in project.realms]
    if realm in pinned:
        return None
    return (
        f"no realm named {realm!r} is pinned (pinned: {', '.join(pinned) or 'none'}), so "
        f"`{realm}{ENDPOINT_SUFFIX}` is not used yet (pin one with `ftl realm add`)"
    )


def overriding_variable(realm: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The environment variable that wins over the configured endpoint of `realm`, when set."""
    variable = f"{ENDPOINT_ENV_PREFIX}{realm.upper()}"
    return variable if environ.get(variable) else None
