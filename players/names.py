"""The rule for an account's display name. Pure; no Django.

Shown on leaderboards and challenge pages to everyone, so it is short, one line, and made of
letters, digits, spaces and a few marks: no markup, no look-alike control or format characters.
Templates escape it anyway; this keeps names readable and comparable."""

import unicodedata

ACCOUNT_NAME_MIN = 3
ACCOUNT_NAME_MAX = 24
ALLOWED_MARKS = " _-.'"

ERR_NAME_LENGTH = "a display name has {min} to {max} characters"
ERR_NAME_CHARACTER = (
    "a display name may hold letters, digits, spaces and _ - . ' only; {char!r} is not allowed"
)


def check_account_name(raw):
    """`raw` with runs of whitespace as one space, trimmed; ValueError saying what is wrong."""
    name = " ".join(str(raw or "").split())
    if not ACCOUNT_NAME_MIN <= len(name) <= ACCOUNT_NAME_MAX:
        raise ValueError(ERR_NAME_LENGTH.format(min=ACCOUNT_NAME_MIN, max=ACCOUNT_NAME_MAX))
    for ch in name:
        if ch in ALLOWED_MARKS:
            continue
        if unicodedata.category(ch)[0] not in ("L", "N"):
            raise ValueError(ERR_NAME_CHARACTER.format(char=ch))
    return name
