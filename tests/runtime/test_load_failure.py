"""A module that does not import is reported at the user's own line, not inside FTL."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ftl.errors import Diagnostic, FtlError, Position
from ftl.runtime._load_failure import import_failure, wire_diagnostics
from ftl.runtime.protocol import WireDiagnostic


def import_file(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(path.stem, None)


def test_an_exception_is_placed_at_the_innermost_user_frame(tmp_path: Path) -> None:
    helper = tmp_path / "helper_for_load_failure.py"
    helper.write_text("import json\n\n\ndef load():\n    return json.loads('{')\n")
    main = tmp_path / "main_for_load_failure.py"
    main.write_text("import helper_for_load_failure\n\nhelper_for_load_failure.load()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ValueError) as raised:
            import_file(main)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("helper_for_load_failure", None)
    diagnostic = import_failure(raised.value)
    assert diagnostic.message.startswith("importing the module failed: JSONDecodeError: ")
    # The call in the helper, not the stdlib's json nor FTL's loader; columns are 1-based.
    assert (diagnostic.file, diagnostic.line, diagnostic.column) == (str(helper), 5, 12)


def test_a_syntax_error_is_placed_where_python_found_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken_for_load_failure.py"
    broken.write_text("x = 1\ny = (\n")
    with pytest.raises(SyntaxError) as raised:
        import_file(broken)
    diagnostic = import_failure(raised.value)
    assert (diagnostic.file, diagnostic.line) == (str(broken), 2)
    assert diagnostic.message.startswith("importing the module failed: SyntaxError: ")


def test_ftl_diagnostics_keep_their_positions() -> None:
    error = FtlError([Diagnostic("no position"), Diagnostic("bad verb", Position("svc/__init__.py", 3, 5))])
    assert wire_diagnostics(error) == [
        WireDiagnostic("no position"),
        WireDiagnostic("bad verb", "svc/__init__.py", 3, 5),
    ]
