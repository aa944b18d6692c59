"""``openkms doctor``: a thin click group over the doctor library.

The main CLI registers it with ``main.add_command(doctor)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from openkms.doctor.explain import explain
from openkms.doctor.findings import Finding, Report
from openkms.doctor.slmgr import check_slmgr_files
from openkms.doctor.winevents import check_event_files
from openkms.errors import OpenKMSError

__all__ = ["doctor"]

_FILES = click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")


@click.group()
def doctor() -> None:
    """Troubleshoot activation step by step, from saved Windows or OpenKMS artefacts."""


def _run(
    check: Callable[[Sequence[Path]], list[Finding]], files: Sequence[Path], as_json: bool
) -> None:
    report = Report(check(files))
    click.echo(report.to_json() if as_json else report.render_text())
    raise SystemExit(report.exit_code)


@doctor.command("explain", context_settings={"ignore_unknown_options": True})
@click.argument("code")
@_JSON
def explain_command(code: str, as_json: bool) -> None:
    """Explain a result code, like 'slui 0x2a CODE': meaning, fix, checks to run."""
    try:
        result = explain(code)
    except OpenKMSError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    if as_json:
        click.echo(json.dumps({f: getattr(result, f) for f in result.__struct_fields__}))
    else:
        click.echo(result.render_text())
    raise SystemExit(0)


@doctor.command("slmgr")
@_FILES
@_JSON
def slmgr_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Check saved 'slmgr /dli' or '/dlv' output of hosts and clients (English, French)."""
    _run(check_slmgr_files, files, as_json)


@doctor.command("events")
@_FILES
@_JSON
def events_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Check exported KMS events: EVTX, wevtutil XML, Event Viewer CSV or text, OpenKMS."""
    _run(check_event_files, files, as_json)
