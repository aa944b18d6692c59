"""Digits a person reads out: groups of six digits, each followed by a check digit.

A number is written in decimal, zero-padded to ``6 * groups`` digits and cut into groups of
six; each group gets a seventh digit, the Damm check digit of the group's number (two
digits, 01, 02, ...) followed by its six digits. The check catches every single wrong digit
and every swap of two neighbouring digits in a group, and a group typed in another group's
place (its number differs), so a mistyped group is named: "group 4 is mistyped".

Input may separate groups with spaces or dashes, or not at all.
"""

from __future__ import annotations

from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = ["DATA_DIGITS", "GROUP_LENGTH", "damm", "format_groups", "parse_groups"]

DATA_DIGITS = 6
GROUP_LENGTH = DATA_DIGITS + 1

# The Damm quasigroup of order 10 (weakly totally anti-symmetric): row = interim, column =
# digit. Every row and column is a permutation and the diagonal is zero.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm(digits: str) -> int:
    """The Damm check digit of ``digits`` (appending it makes the check of the whole 0)."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def _check_digit(index: int, data: str) -> str:
    return str(damm(f"{index:02d}{data}"))


def format_groups(value: int, groups: int) -> str:
    """``value`` as ``groups`` groups of six digits and a check digit, space-separated."""
    text = str(value).zfill(groups * DATA_DIGITS)
    if len(text) != groups * DATA_DIGITS:
        raise ValueError(f"{value} does not fit in {groups} groups")
    chunks = [text[i : i + DATA_DIGITS] for i in range(0, len(text), DATA_DIGITS)]
    return " ".join(c + _check_digit(n, c) for n, c in enumerate(chunks, 1))


def _mistyped(what: str, bad: list[int]) -> OpenKMSError:
    if len(bad) == 1:
        said = f"group {bad[0]} is mistyped"
    else:
        said = "groups " + ", ".join(map(str, bad[:-1])) + f" and {bad[-1]} are mistyped"
    return OpenKMSError(
        _("The {what} is not right: {said} (its check digit does not match).").format(
            what=what, said=said
        ),
        code=ResultCode.PHONE_ID_MISTYPED,
        fix=_("Read the {what} again and type the named group(s) digit by digit.").format(
            what=what
        ),
    )


def _split(text: str, what: str, allowed: tuple[int, ...]) -> list[str]:
    stripped = text.strip()
    bad = sorted({ch for ch in stripped if not ch.isdigit() and ch not in " -\t"})
    if bad or not stripped.isascii():
        raise OpenKMSError(
            _("The {what} contains {bad!r}: it is made of digits only.").format(
                what=what, bad="".join(bad)[:20]
            ),
            code=ResultCode.PHONE_ID_MISTYPED,
            fix=_("Type the {what} as it was read out: groups of {group_length} digits.").format(
                what=what, group_length=GROUP_LENGTH
            ),
        )
    chunks = stripped.replace("-", " ").split()
    lengths = ", ".join(f"{n * GROUP_LENGTH} ({n} groups of {GROUP_LENGTH})" for n in allowed)
    if len(chunks) > 1:
        for index, chunk in enumerate(chunks, 1):
            if len(chunk) != GROUP_LENGTH:
                raise OpenKMSError(
                    _(
                        "The {what}'s group {index} has {count} digits; every group has "
                        "{group_length}."
                    ).format(what=what, index=index, count=len(chunk), group_length=GROUP_LENGTH),
                    code=ResultCode.PHONE_ID_MISTYPED,
                    fix=_("Read group {index} again (a {what} has {lengths} digits).").format(
                        index=index, what=what, lengths=lengths
                    ),
                )
        joined = "".join(chunks)
    else:
        joined = chunks[0] if chunks else ""
    if len(joined) not in {n * GROUP_LENGTH for n in allowed}:
        raise OpenKMSError(
            _("The {what} has {count} digits; it has {lengths}.").format(
                what=what, count=len(joined), lengths=lengths
            ),
            code=ResultCode.PHONE_ID_MISTYPED,
            fix=_("Read the {what} again: a group is missing or one too many.").format(what=what),
        )
    return [joined[i : i + GROUP_LENGTH] for i in range(0, len(joined), GROUP_LENGTH)]


def parse_groups(text: str, what: str, allowed: tuple[int, ...]) -> tuple[int, int]:
    """The number written in ``text`` and its count of groups (one of ``allowed``).

    OpenKMSError (PHONE_ID_MISTYPED) naming the mistyped groups, a group of the wrong
    length, a character that is not a digit, or a wrong count of digits.
    """
    groups = _split(text, what, allowed)
    bad = [n for n, g in enumerate(groups, 1) if _check_digit(n, g[:DATA_DIGITS]) != g[-1]]
    if bad:
        raise _mistyped(what, bad)
    return int("".join(g[:DATA_DIGITS] for g in groups)), len(groups)
