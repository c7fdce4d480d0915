"""Entry point of `safevet`. Each command group lives in its own module."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from engine.cli import common
from engine.cli import corpus_cmd, models_cmd, report_cmd, review_cmd, run_cmd, suites_cmd
from engine.cli import conditions_cmd, demo_cmd, system_cmd
from engine.cli import compare_cmd, preferences_cmd
from engine.cli.help_style import SafeVetGroup, style_app

ROOT_HELP = f"""SafeVet: offline clinical safety vetting of candidate LLMs.

Exit codes: 0 ok; 1 a check that did not hold (verify, models verify, review verify-log: the report, model or log given is not what it claims), a run that failed, or the environment failed (disk full, a store in use, a library error); 2 usage or input error (a wrong option, a missing file, a name that is not there); 130 interrupted.

Output: tables are drawn on a terminal and printed as tab-separated lines (header
first) when piped; --json on list, show, verify and doctor commands prints one object,
{{"format_version": 1, "kind": KIND, KIND: records}}. Errors are one `error:` line
on stderr.

Workspace: {common.HOME_RULE}

Environment: SAFEVET_HOME (the workspace, like --home); SAFEVET_KEY_PASSPHRASE (the
signing key's passphrase for keys init, keys import and report; asked for at the
terminal when unset)."""

app = typer.Typer(name="safevet", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, cls=SafeVetGroup, help=ROOT_HELP)


def _versions() -> str:
    """This package's version and onnxruntime's (which one runs the models matters)."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    runtime = next(((n, v) for n in ("onnxruntime", "onnxruntime-gpu")
                    if (v := version(n)) is not None), None)
    ort = f"{runtime[0]} {runtime[1]}" if runtime else "onnxruntime not installed"
    return f"safevet {version('safevet') or 'unknown (not installed)'} ({ort})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_versions())
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          home: Optional[Path] = typer.Option(
              None, "--home", envvar="SAFEVET_HOME", metavar="PATH",
              help="Workspace folder (default $SAFEVET_HOME or ~/.local/share/safevet); "
                   "see Workspace above"),
          init: bool = typer.Option(False, "--init",
                                    help="Create the --home workspace if the folder is missing"),
          version: bool = typer.Option(False, "--version", is_eager=True,
                                       callback=_print_version,
                                       help="Print the SafeVet and onnxruntime versions")
          ) -> None:
    source = ctx.get_parameter_source("home")
    origin = "$SAFEVET_HOME" if getattr(source, "name", "") == "ENVIRONMENT" else "--home"
    common.set_home(home, origin=origin, init=init)


app.add_typer(suites_cmd.app, name="suites", help="Import, validate and inspect suites.")
app.add_typer(models_cmd.app, name="models", help="Import, list and verify candidate models.")
app.add_typer(corpus_cmd.app, name="corpus", help="Ingest and query retrieval corpora.")
app.add_typer(review_cmd.app, name="review", help="Label stewardship: triage and review.")
run_cmd.register(app)
report_cmd.register(app)
system_cmd.register(app)
conditions_cmd.register(app)
compare_cmd.register(app)
preferences_cmd.register(app)
app.command("demo")(demo_cmd.demo)
style_app(app)


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


def _usage_message(exc) -> str:
    """click's usage error as one line, pointing at the command's own --help."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"{exc.format_message()}{hint}"


def _aborted(exc: BaseException) -> int:
    """A prompt gave up: Ctrl-C is an interruption (130); end of input (Ctrl-D, or no
    terminal) means no answer came, which the user fixes by answering on the command line."""
    if isinstance(exc.__context__, KeyboardInterrupt):
        common.err_console.print("interrupted")
        return 130
    _show("input ended before an answer was given: run the command in a terminal, or give "
          "the answer on the command line (see its --help)")
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the CLI behind the one error boundary (engine.failures.explain): every failure is
    one `error:` line and an exit code, never a traceback. The codes are ROOT_HELP's:
    0 ok, 1 a check failed or the environment failed, 2 usage or input, 130 interrupted."""
    from engine.failures import explain

    common.set_home(None)  # each call chooses its own workspace (tests call main() in turn)
    exc_mod = _click_exceptions()
    try:
        result = app(args=argv, prog_name="safevet", standalone_mode=False)
        # Without standalone mode, click hands back typer.Exit(code) as the return value.
        if isinstance(result, int) and not isinstance(result, bool):
            return result
    except KeyboardInterrupt:
        common.err_console.print("interrupted")
        return 130
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort as exc:
        return _aborted(exc)
    except Exception as exc:  # usage errors arrive as click exceptions (typer vendors click)
        if isinstance(exc, getattr(exc_mod, "NoArgsIsHelpError", ())):
            exc.show()  # a group named without a command: its help, as asked
            return exc.exit_code
        if isinstance(exc, getattr(exc_mod, "UsageError", ())):
            _show(_usage_message(exc))
            return exc.exit_code
        if isinstance(exc, getattr(exc_mod, "ClickException", ())):
            _show(exc.format_message())
            return exc.exit_code
        # Only command words go to the log, never option values (a passphrase, a path).
        words = [a for a in (argv if argv is not None else sys.argv[1:])[:3] if a.isidentifier()]
        failure = explain(exc, where=" ".join(["safevet", *words]), home=common.chosen_home())
        _show(failure.message)
        return failure.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
