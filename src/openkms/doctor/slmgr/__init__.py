"""Parse saved ``slmgr /dli`` and ``/dlv`` output (host or client, English or French).

The parser is tolerant: labels are matched after normalisation (case, accents, the space
French puts before the colon), unknown lines are skipped, and a file that is not slmgr
output at all yields a finding rather than an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from openkms.doctor._i18n import Text, built_in_english
from openkms.doctor._text import ArtefactError, decode_text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.slmgr._checks import check_license, check_snapshots
from openkms.doctor.slmgr._parse import SlmgrLicense, parse_slmgr_text, recognised_lines
from openkms.doctor.slmgr._role import role_of
from openkms.doctor.slmgr._text import code_findings, labels_finding, scan_text
from openkms.i18n import N_

__all__ = [
    "MAX_SLMGR_BYTES",
    "SlmgrLicense",
    "check_slmgr_files",
    "parse_slmgr",
    "parse_slmgr_text",
    "read_slmgr_text",
]

logger = logging.getLogger("openkms.doctor")

MAX_SLMGR_BYTES = 4 * 1024 * 1024
_NOTHING = N_(
    "no slmgr /dli or /dlv fields and no error code found (English, French, German and "
    "Spanish labels are known)"
)


def _labels_read(text: str) -> int:
    return recognised_lines(text)


def read_slmgr_text(path: Path) -> str:
    """The decoded text of a saved slmgr transcript; :class:`ArtefactError` if unreadable."""
    try:
        size = path.stat().st_size
        if size > MAX_SLMGR_BYTES:
            raise ArtefactError(
                Text(N_("{path}: {size} bytes is too large for slmgr output"), path=path, size=size)
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read: {reason}"), path=path, reason=exc.strerror or exc)
        ) from exc
    if b"\x00" in raw and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ArtefactError(Text(N_("{path}: binary data, not slmgr text output"), path=path))
    return decode_text(raw, _labels_read)


def parse_slmgr(path: Path) -> list[SlmgrLicense]:
    """Read one saved slmgr output file; raise :class:`ArtefactError` if it is not one."""
    blocks = [b for b in parse_slmgr_text(read_slmgr_text(path), str(path)) if b.installed]
    if not blocks:
        raise ArtefactError(Text("{path}: {nothing}", path=path, nothing=Text(_NOTHING)))
    return blocks


def _file_findings(path: Path, text: str) -> tuple[list[SlmgrLicense], list[Finding]]:
    """License blocks and findings of one transcript: fields, printed codes, unknown labels."""
    blocks = [b for b in parse_slmgr_text(text, str(path)) if b.installed]
    scan = scan_text(text)
    mak = any(role_of(block) is Procedure.MAK_CLIENT for block in blocks)
    findings = code_findings(scan, str(path), mak=mak)
    for block in blocks:
        findings.extend(check_license(block))
    if not blocks and not scan.codes:
        if scan.unknown_labels:
            return [], [labels_finding(scan, str(path))]
        return [], [
            _unreadable(
                path, ArtefactError(Text("{path}: {nothing}", path=path, nothing=Text(_NOTHING)))
            )
        ]
    if not blocks and scan.unknown_labels and not scan.known_labels:
        findings.append(labels_finding(scan, str(path)))
    return blocks, findings


@built_in_english
def check_slmgr_files(paths: Sequence[Path]) -> list[Finding]:
    """Parse each file and run the slmgr checks; unreadable files become findings."""
    findings: list[Finding] = []
    parsed: list[SlmgrLicense] = []
    for path in paths:
        try:
            text = read_slmgr_text(path)
        except ArtefactError as exc:
            logger.debug("unreadable slmgr file %s: %s", path, exc.message)
            findings.append(_unreadable(path, exc))
            continue
        blocks, found = _file_findings(path, text)
        parsed.extend(blocks)
        findings.extend(found)
    findings.extend(check_snapshots(_by_identity(parsed)))
    return findings


def _by_identity(blocks: Iterable[SlmgrLicense]) -> list[list[SlmgrLicense]]:
    groups: dict[str, list[SlmgrLicense]] = {}
    for block in blocks:
        if block.is_host:
            groups.setdefault(block.identity(), []).append(block)
    return [g for g in groups.values() if len(g) > 1]


def _unreadable(path: Path, exc: ArtefactError) -> Finding:
    return CATALOGUE["slmgr-unreadable"].finding(
        Severity.ERROR,
        exc.message,
        meaning=Text(
            N_("This file is not readable slmgr /dli or /dlv output, so nothing in it was checked.")
        ),
        fix=Text(
            N_(
                "Save the output with 'cscript //nologo slmgr.vbs /dlv > dlv.txt' (or copy it "
                "from the window with Ctrl+C), or the output of 'slmgr /ato' with its error "
                "code, and pass that file."
            )
        ),
    )
