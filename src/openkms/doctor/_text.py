"""Shared helpers: decoding saved Windows text and normalising labels across languages."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import IO

from openkms.errors import ArtefactError

__all__ = ["ArtefactError", "decode_text", "normalize_label", "open_text", "sniff_encoding"]

# cscript redirected to a file writes the OEM code page (cp850 in western Europe), Notepad
# the ANSI one (cp1252): 8-bit text that is not UTF-8 is one of these.
_LEGACY = ("cp850", "cp1252")

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})


def normalize_label(text: str) -> str:
    """Lower case, no accents, straight quotes, single spaces: 'État  de la licence' -> ..."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare).strip().lower()


def sniff_encoding(head: bytes) -> str:
    """Guess the encoding of a saved Windows text file from its first bytes."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return "utf-16-le"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return _LEGACY[-1]
    return "utf-8"


def decode_text(raw: bytes, score: Callable[[str], int] | None = None) -> str:
    """Decode a whole saved text file: BOM, UTF-16, UTF-8, else the legacy code page that
    ``score`` likes best (how many labels it recognises; cp1252 without a score)."""
    encoding = sniff_encoding(raw)
    if encoding not in _LEGACY:
        try:
            return raw.decode(encoding, errors="strict" if encoding == "utf-8" else "replace")
        except UnicodeDecodeError:  # valid UTF-8 at the start only
            encoding = _LEGACY[-1]
    if score is None:
        return raw.decode(encoding, errors="replace")
    candidates = [raw.decode(legacy, errors="replace") for legacy in _LEGACY]
    return max(candidates, key=score)


def open_text(path: Path) -> IO[str]:
    """Open a saved text export for streaming, with its encoding guessed from the BOM."""
    raw = path.open("rb")
    encoding = sniff_encoding(raw.peek(4096) if isinstance(raw, io.BufferedReader) else b"")
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
