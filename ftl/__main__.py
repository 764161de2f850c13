"""`python -m ftl` runs the `ftl` command."""

from ftl.cli.app import main

main()
