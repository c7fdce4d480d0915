"""`safevet doctor` and `safevet gui`: machine checks and the desktop."""
from __future__ import annotations

from dataclasses import dataclass, field

import typer

from engine.cli import common
from engine.cli.common import console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import print_table
from engine.environment_info import host_info, package_versions
from engine.offline import offline_flag_problems
from engine.workspace import HomeState, home_state


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("gui")(gui)


@dataclass(frozen=True)
class DoctorReport:
    """What `safevet doctor` found on this machine (its --json record)."""

    workspace: str
    workspace_state: str          # a SafeVet workspace | an empty folder | missing | ...
    host: dict[str, object]
    packages: dict[str, str]
    onnxruntime_providers: list[str]
    gpu_present: bool
    execution_provider: str
    execution_provider_notice: str | None
    intra_op_threads: int
    inter_op_threads: int = 1
    offline_problems: list[str] = field(default_factory=list)


def _workspace_state() -> tuple[str, str]:
    """The workspace's path and state, without creating it: doctor is also how a user
    finds out that --home names no workspace, and the installer runs it before any model
    is registered."""
    state = home_state(common.home_path())
    if state is HomeState.WORKSPACE:
        return str(workspace().home), state.value   # sweeps what a killed command left
    return str(common.home_path()), state.value


def _diagnose() -> DoctorReport:
    import onnxruntime as ort

    from engine.models.providers import choose_for_this_machine, gpu_present, physical_cores
    home, state = _workspace_state()
    choice = choose_for_this_machine("auto")
    return DoctorReport(home, state, host_info(), package_versions(),
                        list(ort.get_available_providers()), gpu_present(), choice.name,
                        choice.notice, physical_cores(),
                        offline_problems=offline_flag_problems())


def _rows(r: DoctorReport) -> list[tuple[str, str]]:
    rows = [("workspace", r.workspace + ("" if r.workspace_state == HomeState.WORKSPACE.value
                                         else f" ({r.workspace_state})"))]
    rows += [(key, str(value)) for key, value in r.host.items()]
    rows += list(r.packages.items())
    rows += [("onnxruntime providers", ", ".join(r.onnxruntime_providers)),
             ("NVIDIA GPU present", "yes" if r.gpu_present else "no"),
             ("execution provider", r.execution_provider
              + (f" ({r.execution_provider_notice})" if r.execution_provider_notice else "")),
             ("inference threads", f"{r.intra_op_threads} intra-op (physical cores), "
                                   f"{r.inter_op_threads} inter-op"),
             ("offline settings", "ok" if not r.offline_problems
              else "; ".join(r.offline_problems))]
    return rows


def doctor(as_json: bool = JSON_OPTION) -> None:
    """Report versions, hardware, execution providers and offline settings."""
    report = _diagnose()
    if as_json:
        emit_json("doctor", report)
        return
    print_table(console, ["what", "value"], _rows(report), title="SafeVet doctor")


def gui() -> None:
    """Open the desktop application on this workspace (same as `safevet-desktop`)."""
    import subprocess
    import sys

    # The desktop runs in its own process: the engine itself never loads Qt.
    code = subprocess.call([sys.executable, "-c", "import sys; from desktop.app import main; "
                            "sys.exit(main())", "--home", str(workspace().home)])
    if code:
        raise typer.Exit(code)
