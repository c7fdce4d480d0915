"""Entry point of `safevet`. Each command group lives in its own module."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from engine.cli import common
from engine.cli import corpus_cmd, models_cmd, report_cmd, review_cmd, run_cmd, suites_cmd
from engine.cli import conditions_cmd, demo_cmd, system_cmd

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
conditions_cmd.register(app)
app.command("demo")(demo_cmd.demo)


def _click_exceptions():
    """typer >= 0.29 ships its own click copy; older ones use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the typer version
        from click import exceptions
    return exceptions


def _show(failure_message: str) -> None:
    """Print as plain text: rich would read `[mcq]` in a message as markup and drop it."""
    from rich.text import Text
    text = Text("error: ", style="bold red")
    text.append(failure_message)
    common.err_console.print(text, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI behind the one error boundary (engine.failures.explain): every failure is
    one line and an exit code (2 input, 1 environment, 130 interrupted), never a traceback."""
    from engine.failures import explain

    common.set_home(None)  # each call chooses its own workspace (tests call main() in turn)
    try:
        result = app(args=argv, standalone_mode=False)
        # Without standalone mode, click hands back typer.Exit(code) as the return value.
        if isinstance(result, int) and not isinstance(result, bool):
            return result
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
        # Only command words go to the log, never option values (a passphrase, a path).
        words = [a for a in (argv if argv is not None else sys.argv[1:])[:3] if a.isidentifier()]
        failure = explain(exc, where=" ".join(["safevet", *words]), home=common.chosen_home())
        _show(failure.message)
        return failure.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
