"""Entry point of `safevet`. Each command group lives in its own module."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from engine.cli import common
from engine.cli import corpus_cmd, models_cmd, report_cmd, review_cmd, run_cmd, suites_cmd
from engine.cli import system_cmd
from engine.errors import SafeVetError

app = typer.Typer(name="safevet", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="SafeVet: offline clinical safety vetting of candidate LLMs.")


@app.callback()
def _root(home: Optional[Path] = typer.Option(
        None, "--home", help="Workspace folder (default $SAFEVET_HOME or ~/.local/share/safevet)",
        envvar="SAFEVET_HOME")) -> None:
    common.set_home(home)


app.add_typer(suites_cmd.app, name="suites", help="Import, validate and inspect suites.")
app.add_typer(models_cmd.app, name="models", help="Import, list and verify candidate models.")
app.add_typer(corpus_cmd.app, name="corpus", help="Ingest and query retrieval corpora.")
app.add_typer(review_cmd.app, name="review", help="Label stewardship: triage and review.")
run_cmd.register(app)
report_cmd.register(app)
system_cmd.register(app)


def _click_exceptions():
    """typer >= 0.29 ships its own click copy; older ones use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the typer version
        from click import exceptions
    return exceptions


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a SafeVetError becomes one clear message and exit code 2."""
    try:
        result = app(args=argv, standalone_mode=False)
        # Without standalone mode, click hands back typer.Exit(code) as the return value.
        if isinstance(result, int) and not isinstance(result, bool):
            return result
    except SafeVetError as exc:
        common.err_console.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        common.err_console.print("interrupted")
        return 130
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0)
    except Exception as exc:  # usage errors arrive as click exceptions (typer vendors click)
        exc_mod = _click_exceptions()
        if isinstance(exc, getattr(exc_mod, "ClickException", ())):
            exc.show()
            return exc.exit_code
        if isinstance(exc, getattr(exc_mod, "Exit", ())):
            return exc.exit_code
        if isinstance(exc, getattr(exc_mod, "Abort", ())):
            return 130
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
