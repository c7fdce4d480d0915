"""The CLI answers usage errors and user errors with a message and exit code, never a traceback."""
from engine.cli.main import main


def test_usage_error_is_a_message_not_a_traceback(capsys):
    assert main(["suites", "validate"]) == 2
    err = capsys.readouterr().err
    assert "Missing argument" in err and "Traceback" not in err


def test_unknown_command(capsys):
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_user_error_exit_code(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "suites", "validate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "not a suite folder" in err and "Traceback" not in err


def test_typer_exit_code_is_returned():
    """An interrupted run raises typer.Exit(130); main() must hand that code to the shell."""
    import typer

    from engine.cli import main as main_mod

    probe = typer.Typer()

    @probe.command()
    def stop() -> None:
        raise typer.Exit(3)

    original = main_mod.app
    main_mod.app = probe
    try:
        assert main_mod.main([]) == 3
    finally:
        main_mod.app = original


def test_messages_are_printed_literally_not_as_markup(tmp_path, capsys):
    """rich would read `[mcq]` in a message as a style tag and drop it from the line."""
    bad = tmp_path / "t.toml"
    bad.write_text("[mcqq]\nx = 1\n")
    assert main(["--home", str(tmp_path / "h"), "report", "some-run", "--thresholds",
                 str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[mcq]" in err and "[open]" in err and "Traceback" not in err
