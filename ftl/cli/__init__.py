"""The `ftl` command line: thin typer layers over the library (see `app.py`)."""
