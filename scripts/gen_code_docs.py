"""Generate docs/result-codes.md from the result-code table; --check fails when it is stale."""

from __future__ import annotations

import sys
from pathlib import Path

from openkms.core.codes import ResultCode

DOC = Path(__file__).resolve().parent.parent / "docs" / "result-codes.md"


def render() -> str:
    """The table of every result code."""
    lines = [
        "# Result codes",
        "",
        "Generated from `openkms.core.codes` by `scripts/gen_code_docs.py`; CI fails when it is",
        "stale. `openkms doctor explain CODE` prints the same for one code.",
        "",
        "Codes `0xC004xxxx` and `0x8007xxxx` mean what they mean in Windows volume activation.",
        "Codes `0xE004xxxx` (customer bit set) are OpenKMS's own.",
        "",
        "| code | name | meaning | fix |",
        "|---|---|---|---|",
    ]
    for code in ResultCode:
        info = code.info
        lines.append(f"| `{code.hex}` | {code.name} | {info.message} | {info.fix} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write (or --check) docs/result-codes.md."""
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(
                "docs/result-codes.md is out of date: run .venv/bin/python scripts/gen_code_docs.py"
            )
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
