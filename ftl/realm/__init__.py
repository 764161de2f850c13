"""Realms (federation): pinning other realms' public schemas from git, and exporting our own.

- `project_file`: edits `ftl-project.toml` (tomlkit; atomic; unchanged on any failure)
- `git`: branch heads and files at an exact commit, for every URL form git accepts
- `cache`: `.ftl/realms/<name>/<commit>/`, digest-checked, refetched when tampered with
- `external`: pinned realms as `external realm` blocks for the build
- `pins`: `ftl realm add/update/list/remove`; `references`: who still uses a realm
- `public`: a realm's public schema; `export`: `ftl schema export`; `sources`: `ftl schema diff` inputs
- `endpoints`: the `<realm>-realm-endpoint` config values that say where calls to a pinned realm go
"""

from __future__ import annotations

from ftl.realm.export import (
    ExportCheck,
    check_public_schema,
    export_path,
    public_schema_text,
    write_public_schema,
)
from ftl.realm.external import PinnedRealm, load_external_realms, load_pinned_realm
from ftl.realm.pins import (
    PinUpdate,
    RealmInUseError,
    RealmSummary,
    add_realm,
    list_realms,
    remove_realm,
    update_realms,
)
from ftl.realm.public import check_no_third_realm_leak, public_schema

__all__ = [
    "ExportCheck",
    "PinUpdate",
    "PinnedRealm",
    "RealmInUseError",
    "RealmSummary",
    "add_realm",
    "check_no_third_realm_leak",
    "check_public_schema",
    "export_path",
    "list_realms",
    "load_external_realms",
    "load_pinned_realm",
    "public_schema",
    "public_schema_text",
    "remove_realm",
    "update_realms",
    "write_public_schema",
]
