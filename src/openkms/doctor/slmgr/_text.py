"""What a slmgr transcript says beyond its license blocks: error codes, unknown labels.

``slmgr /ato`` prints ``Error: 0xC004F074 The Software Licensing Service reported ...``
in the display language (``错误: 0xC004F074 ...``, ``Erreur : 0xC004F074 ...``): the
label and the sentence change, the code does not. A line that is not a known slmgr field
and reads "<label>: 0x........" with a failure code is read as such an error, alone or
inside a longer transcript.
"""

from __future__ import annotations

import re

import msgspec

from openkms.doctor._codewords import code_fix, code_meaning, code_procedure, mak_words
from openkms.doctor._i18n import Text
from openkms.doctor._text import normalize_label
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.explain import explain
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.slmgr._labels import field_of, flag_of
from openkms.i18n import N_

__all__ = ["CodeLine", "TextScan", "code_findings", "labels_finding", "mak_explained", "scan_text"]

# "<label in any language>: 0x........ <message>": a label of letters, then the code.
_ERROR_LINE = re.compile(r"^\s*[^\W\d_][^:\uff1a\d,;]{0,40}[:\uff1a]\s*0[xX]([0-9A-Fa-f]{8})\b")
_WORDS = re.compile(r"^[^\W\d_][^\d,;=<>]*$")
_NUMBER = re.compile(r"\b\d+\b")
_LABEL = re.compile(r"^\s*([^:\uff1a]{2,60}?)\s*[:\uff1a]\s*(.*)$")
_MAX_LABELS = 5
# Procedures of codes only a KMS client meets (the host, its count, DNS SRV, TCP 1688).
_KMS_PROCEDURES = frozenset(
    {Procedure.HOST, Procedure.COUNT, Procedure.CMID, Procedure.DNS, Procedure.PORT}
)


class CodeLine(msgspec.Struct, frozen=True, kw_only=True):
    """A failure code printed on one line of a transcript."""

    line: int
    code: int
    text: str


class TextScan(msgspec.Struct, frozen=True, kw_only=True):
    """Codes, unrecognised labels and numbers found in slmgr text."""

    codes: tuple[CodeLine, ...]
    unknown_labels: tuple[str, ...]
    known_labels: int
    numbers: int


def _known(label: str) -> bool:
    return field_of(label) is not None


def scan_text(text: str) -> TextScan:
    """Failure codes on lines that are not slmgr fields, and labels not recognised."""
    codes: list[CodeLine] = []
    unknown: list[str] = []
    known = numbers = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LABEL.match(line)
        label = normalize_label(match.group(1)) if match else ""
        if match and _known(label):
            known += 1
            continue
        if flag_of(line) is not None:
            known += 1
            continue
        error = _ERROR_LINE.match(line)
        if error is not None:
            code = int(error.group(1), 16)
            if code & 0x80000000:
                codes.append(CodeLine(line=number, code=code, text=line.strip()[:200]))
            continue
        numbers += len(_NUMBER.findall(line))
        if match and match.group(2).strip() and _WORDS.match(label) and label not in unknown:
            unknown.append(label)
    return TextScan(
        codes=tuple(codes),
        unknown_labels=tuple(unknown[:_MAX_LABELS]),
        known_labels=known,
        numbers=numbers,
    )


def code_findings(scan: TextScan, source: str, *, mak: bool = False) -> list[Finding]:
    """One finding per distinct failure code printed in the transcript, explained. ``mak``:
    the transcript is of a Windows MAK machine, whose MAK causes are filed under
    ``mak-client`` with Microsoft's MAK fix (:func:`mak_explained`)."""
    seen: dict[int, list[CodeLine]] = {}
    for item in scan.codes:
        seen.setdefault(item.code, []).append(item)
    out: list[Finding] = []
    for code, items in seen.items():
        words = explain(code)
        first = items[0]
        where = Text("{source}:{line}: {text}", source=source, line=first.line, text=first.text)
        if len(items) > 1:
            more = Text(N_("(and {more} more line(s))"), more=len(items) - 1)
            where = Text("{where} {more}", where=where, more=more)
        meaning, fix, procedure = code_meaning(words), code_fix(words), code_procedure(words)
        if mak:
            meaning, fix, procedure = mak_explained(code, meaning, fix, procedure)
        out.append(
            CATALOGUE["slmgr-error-code"].finding(
                Severity.ERROR,
                where,
                meaning=meaning,
                fix=fix,
                code=words.code,
                procedure=procedure,
            )
        )
    return out


def mak_explained(
    code: int, meaning: str, fix: str, procedure: Procedure
) -> tuple[str, str, Procedure]:
    """Meaning, fix and procedure of a code printed on a Windows MAK machine: a MAK cause
    (0xC004C003, 0xC004C008, 0xC004C020, ...) gets Microsoft's MAK wording under
    ``mak-client``; a code only a KMS client meets (0x8007232B, 0xC004F074, ...) keeps its
    procedure and says it is not the MAK's."""
    found = mak_words(code)
    if found is not None:
        return found[0], found[1], Procedure.MAK_CLIENT
    if procedure in _KMS_PROCEDURES:
        note = Text(
            N_(
                "Not a MAK cause: only a KMS client meets this code (it came from an attempt "
                "while a KMS client setup key was installed)."
            )
        )
        meaning = Text("{meaning} {note}", meaning=meaning, note=note)
    return meaning, fix, procedure


def labels_finding(scan: TextScan, source: str) -> Finding:
    """Labels not recognised: name them and say what was still read."""
    codes = ", ".join(sorted({f"0x{c.code:08X}" for c in scan.codes}))
    evidence = Text(
        N_(
            "{source}: labels not recognised: {labels}; "
            "still read: codes {codes}, {numbers} number(s)"
        ),
        source=source,
        labels=", ".join(scan.unknown_labels),
        codes=codes or Text(N_("none")),
        numbers=scan.numbers,
    )
    return CATALOGUE["slmgr-labels-unknown"].finding(
        Severity.WARNING if scan.codes else Severity.ERROR,
        evidence,
        meaning=Text(
            N_(
                "This slmgr output is in a display language whose labels the doctor does not "
                "know (English, French, German and Spanish are known), so its fields were not "
                "checked; failure codes are read in any language."
            )
        ),
        fix=Text(
            N_(
                "Save the output again on an English display language ('cscript //nologo "
                "slmgr.vbs /dlv > dlv.txt' after switching the display language), or pass the "
                "codes to 'openkms doctor explain'."
            )
        ),
    )
