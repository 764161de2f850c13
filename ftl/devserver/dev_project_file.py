"""`ftl-project.toml` as the running dev loop reads it again after an edit.

A file that cannot be read is shown once, and what was read before goes on applying. A renamed
`realm` is not applied (it takes a restart); unknown keys are warned about once per set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ftl.devserver.dev_events import DevEvent
from ftl.devserver.dev_failures import PROJECT_FILE_KEY, Failures, relative_to_cwd
from ftl.errors import FtlError
from ftl.files import display_path
from ftl.project import Project, load_project


class ProjectFileReloader:
    """Reads the project file again, keeping the realm that serves and what was shown about it."""

    def __init__(self, project: Project, failures: Failures, report: Callable[[DevEvent], None]) -> None:
        self._failures = failures
        self._report = report
        self._realm = project.realm  # the realm served: renaming it takes a restart
        self._realm_asked = project.realm  # the realm the project file names, as last shown
        self._warned = frozenset(project.warnings)  # shown by `ftl dev` as it started

    def reload(self, path: Path) -> Project | None:
        """The project file read again, with the realm that serves (renaming it takes a restart);
        None when it cannot be read. Shows what changed about it: an error, that it is fixed, a
        renamed realm, new warnings."""
        try:
            project = load_project(path)
        except FtlError as exc:
            self._failures.show_problems(PROJECT_FILE_KEY, exc.diagnostics)
            return None
        if self._failures.forget(PROJECT_FILE_KEY):
            self._report(DevEvent("notice", message=f"{display_path(project.path)}: ok again"))
        if project.realm != self._realm_asked:
            self._realm_asked = project.realm
            if project.realm != self._realm:
                self._report(
                    DevEvent(
                        "notice",
                        message=f"{display_path(project.path)}: realm {project.realm!r} takes effect when"
                        f" `ftl dev` restarts (serving realm {self._realm!r} until then)",
                    )
                )
        warnings = frozenset(project.warnings)
        if warnings != self._warned:
            self._warned = warnings
            if warnings:
                self._report(DevEvent("warning", diagnostics=tuple(relative_to_cwd(list(warnings)))))
        return replace(project, realm=self._realm)
