"""Finding the modules of a project: every directory with an `ftl.toml` under `module-dirs`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ftl.errors import Diagnostic, FtlError, Position
from ftl.files import display_path
from ftl.project import Project
from ftl.runtime.extract import MODULE_FILE, ModuleFile, read_module_file

_PRUNED = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    directory: Path
    package: str
    watch: tuple[str, ...]

    @property
    def module_file(self) -> ModuleFile:
        return ModuleFile(self.name, self.package, self.directory, self.watch)


def discover_modules(project: Project) -> list[ModuleInfo]:
    """The project's modules, sorted by name; raises FtlError on a bad or duplicate module."""
    modules, diagnostics = scan_modules(project)
    if diagnostics:
        raise FtlError(diagnostics)
    return modules


def scan_modules(project: Project) -> tuple[list[ModuleInfo], list[Diagnostic]]:
    """Every module found (sorted by name) and the problems met on the way."""
    diagnostics: list[Diagnostic] = []
    found: dict[Path, ModuleInfo] = {}
    for entry, root in zip(project.module_dirs, project.module_roots(), strict=True):
        if not root.is_dir():
            diagnostics.append(
                Diagnostic(
                    f"module-dirs entry {entry!r} is not a directory",
                    _position_of(project.path, "module-dirs", entry),
                )
            )
            continue
        for directory in _module_directories(root, project.state_dir.resolve()):
            if directory in found:
                continue
            try:
                module = read_module_file(directory)
            except FtlError as exc:
                diagnostics.extend(exc.diagnostics)
                continue
            found[directory] = ModuleInfo(module.name, module.directory, module.package, module.watch)
    by_name: dict[str, list[ModuleInfo]] = {}
    for info in found.values():
        by_name.setdefault(info.name, []).append(info)
    diagnostics.extend(_duplicate(infos) for infos in by_name.values() if len(infos) > 1)
    unique = [infos[0] for infos in by_name.values() if len(infos) == 1]
    return sorted(unique, key=lambda m: m.name), diagnostics


def _duplicate(infos: list[ModuleInfo]) -> Diagnostic:
    """One error for every directory claiming a name, at the last one (a copy, usually)."""
    files = sorted(info.directory / MODULE_FILE for info in infos)
    shown = ", ".join(display_path(f.parent) for f in files[:-1])
    return Diagnostic(
        f"duplicate module {infos[0].name!r}: defined in both {shown} and {display_path(files[-1].parent)}"
        " (rename one in its ftl.toml)",
        _position_of(files[-1], "module"),
    )


def _module_directories(root: Path, state_dir: Path) -> list[Path]:
    """Directories under `root` (itself included) holding an ftl.toml; a module's insides are not searched."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        if MODULE_FILE in files:
            found.append(here.resolve())
            dirs.clear()
            continue
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in _PRUNED
            and not (here / d / "pyvenv.cfg").exists()
            and (here / d).resolve() != state_dir
        )
    return found


def _position_of(path: Path, key: str, value: str | None = None) -> Position:
    """Where `key`'s value starts in a TOML file, or where the string `value` appears in it (an
    array entry, maybe on a later line); line 1 when the file cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return Position(str(path), 1, 1)
    start = next((n for n, line in enumerate(lines) if line.lstrip().startswith(key)), None)
    if start is None:
        return Position(str(path), 1, 1)
    if value is not None:
        for number in range(start, len(lines)):
            for quoted in (f'"{value}"', f"'{value}'"):
                if (column := lines[number].find(quoted)) != -1:
                    return Position(str(path), number + 1, column + 1)
    line = lines[start]
    equals = line.find("=")
    column = equals + 1 + len(line[equals + 1 :]) - len(line[equals + 1 :].lstrip()) if equals != -1 else 0
    return Position(str(path), start + 1, column + 1)
