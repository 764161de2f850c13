"""The config and secret values each module's runner was given, to tell which modules an edit of
`ftl-project.toml` or `ftl secret set` (a change of `.ftl/secrets.toml`) concerns.

Only a fingerprint of each module's values is kept, never the values themselves,
so nothing the loop reports can show one. A file that cannot be read is shown once (under
`CONFIG_KEY` or `SECRETS_KEY`), and the values read before are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ftl.configstore import Kind, values_for
from ftl.devserver.dev_failures import CONFIG_KEY, SECRETS_KEY, Failures
from ftl.errors import FtlError
from ftl.project import Project


class GivenValues:
    """The config values, and a fingerprint of the secret values, each module was given."""

    def __init__(self, failures: Failures) -> None:
        self._failures = failures
        self._given: dict[Kind, dict[str, str]] = {"config": {}, "secret": {}}  # fingerprints, by module

    def read_config(self, project: Project, names: Iterable[str]) -> set[str]:
        """Read the config values of `names` (`[config]` overlaid with each module's own table);
        returns the modules whose values changed."""
        return self._read(project, "config", CONFIG_KEY, list(names))

    def read_secrets(self, project: Project, names: Iterable[str]) -> set[str]:
        """Read the secret values of `names`; returns the modules whose values changed."""
        return self._read(project, "secret", SECRETS_KEY, list(names))

    def _read(self, project: Project, kind: Kind, problems_key: str, names: list[str]) -> set[str]:
        try:
            values = {name: values_for(project, kind, name) for name in names}
        except FtlError as exc:
            self._failures.show_problems(problems_key, exc.diagnostics)
            return set()
        self._failures.show_problems(problems_key, [])
        before = self._given[kind]
        self._given[kind] = {name: _fingerprint(v) for name, v in values.items()}
        return {name for name in names if before.get(name) != self._given[kind].get(name)}


def _fingerprint(values: dict[str, Any]) -> str:
    """A digest of a module's secret values: enough to tell a change, never shown."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
