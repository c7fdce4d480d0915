"""The `safevet` command line: a thin front end over the engine API."""
