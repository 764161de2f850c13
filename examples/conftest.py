"""Makes every example module and its generated clients (`ftl_modules`) importable by the tests."""

from pathlib import Path

from ftl.testing import setup_project

setup_project(Path(__file__).parent)
