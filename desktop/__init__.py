"""SafeVet desktop: a thin PySide6 front end over the same engine API as the CLI.

Nothing here decides anything about a model's safety; every figure, file and
signature comes from `engine`. Long work runs in worker threads (see
`desktop.workers`) so the window never freezes.
"""
