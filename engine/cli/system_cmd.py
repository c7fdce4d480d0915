"""`safevet doctor` and `safevet gui`: machine checks and the desktop."""
from __future__ import annotations

import typer
from rich.table import Table

from engine.cli.common import console, workspace
from engine.environment_info import host_info, package_versions
from engine.offline import offline_flag_problems


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("gui")(gui)


def doctor() -> None:
    """Report versions, hardware, execution providers and offline settings."""
    ws = workspace()
    table = Table("what", "value", title="SafeVet doctor")
    table.add_row("workspace", str(ws.home))
    for key, value in host_info().items():
        table.add_row(key, str(value))
    for name, version in package_versions().items():
        table.add_row(name, version)
    import onnxruntime as ort

    from engine.models.providers import choose_for_this_machine, gpu_present, physical_cores
    choice = choose_for_this_machine("auto")
    table.add_row("onnxruntime providers", ", ".join(ort.get_available_providers()))
    table.add_row("NVIDIA GPU present", "yes" if gpu_present() else "no")
    table.add_row("execution provider", choice.name + (f" ({choice.notice})" if choice.notice
                                                       else ""))
    table.add_row("inference threads", f"{physical_cores()} intra-op (physical cores), 1 inter-op")
    problems = offline_flag_problems()
    table.add_row("offline settings", "ok" if not problems else "; ".join(problems))
    console.print(table)


def gui() -> None:
    """Open the desktop application on this workspace (same as `safevet-desktop`)."""
    import subprocess
    import sys

    # The desktop runs in its own process: the engine itself never loads Qt.
    code = subprocess.call([sys.executable, "-c", "import sys; from desktop.app import main; "
                            "sys.exit(main())", "--home", str(workspace().home)])
    if code:
        raise typer.Exit(code)
