"""Fixtures that write a module to a temp dir and extract it, as `ftl build` would."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ftl.errors import FtlError
from ftl.runtime.loader import LoadedModule, load_module
from ftl.schema import ast

MakeModule = Callable[..., Path]


@pytest.fixture
def make_module(tmp_path: Path) -> MakeModule:
    """Write `<tmp>/<name>/ftl.toml` and the package source; returns the module directory."""

    def make(
        source: str,
        *,
        name: str = "shop",
        package: str | None = None,
        files: dict[str, str] | None = None,
        toml: str | None = None,
    ) -> Path:
        directory = tmp_path / name
        package_dir = directory / (package or name)
        package_dir.mkdir(parents=True, exist_ok=True)
        if toml is None:
            toml = f'module = "{name}"\n' + (f'package = "{package}"\n' if package else "")
        (directory / "ftl.toml").write_text(toml)
        (package_dir / "__init__.py").write_text(textwrap.dedent(source))
        for relative, text in (files or {}).items():
            path = package_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return directory

    return make


@pytest.fixture
def stubs(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a hand-made generated-stub module `ftl_modules.<name>`; returns the stubs root."""
    root = tmp_path / "stubs"

    def write(name: str, source: str) -> Path:
        package = root / "ftl_modules"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        target = package / (name.replace(".", "/") + ".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent != package:
            (target.parent / "__init__.py").write_text("")
        target.write_text(textwrap.dedent(source))
        return root

    return write


@pytest.fixture
def load(make_module: MakeModule) -> Callable[..., LoadedModule]:
    def run(source: str, *, stubs: Path | None = None, **options: object) -> LoadedModule:
        return load_module(make_module(source, **options), stubs=stubs, isolated=True)

    return run


@pytest.fixture
def extract(load: Callable[..., LoadedModule]) -> Callable[..., ast.Module]:
    def run(source: str, **options: object) -> ast.Module:
        return load(source, **options).schema

    return run


@pytest.fixture
def errors(make_module: MakeModule) -> Callable[..., list[str]]:
    """The diagnostics of a module that must fail, as `FILE:line:col: message` with FILE the path
    relative to the module directory."""

    def run(source: str, *, stubs: Path | None = None, **options: object) -> list[str]:
        directory = make_module(source, **options)
        with pytest.raises(FtlError) as caught:
            load_module(directory, stubs=stubs, isolated=True)
        rendered = []
        for diagnostic in caught.value.diagnostics:
            assert diagnostic.pos is not None, diagnostic
            filename = Path(diagnostic.pos.filename).relative_to(directory)
            rendered.append(f"{filename}:{diagnostic.pos.line}:{diagnostic.pos.column}: {diagnostic.message}")
        return rendered

    return run
