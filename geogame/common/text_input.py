"""Text that people type and the site stores (display names, study and map names, a consent
text), checked in one place. Pure; no Django.

SQLite enforces no CharField max_length and stores NUL; PostgreSQL refuses NUL with an error
(a 500). So every such text is bounded here, and control characters are refused with a clear
message on every database."""

import unicodedata

ERR_TOO_LONG = "{what} is longer than {max_chars} characters"
ERR_CONTROL = "{what} contains an unprintable character ({code}); type plain text"


def _check_characters(text, what, allowed=""):
    for ch in text:
        # Cc: NUL, ESC, DEL and the other control codes; Cs: a lone surrogate (no UTF-8 for it).
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(ERR_CONTROL.format(what=what, code=f"U+{ord(ch):04X}"))


def clean_name(raw, *, what, max_chars):
    """`raw` as one line, each run of whitespace (newlines, tabs too) one space, trimmed; '' for
    nothing. ValueError, naming `what`, if longer than `max_chars` or with a control character."""
    name = " ".join(str(raw or "").split())
    _check_characters(name, what)
    if len(name) > max_chars:
        raise ValueError(ERR_TOO_LONG.format(what=what, max_chars=max_chars))
    return name


def check_text(raw, *, what, max_chars):
    """Free text of several lines, as given: ValueError if longer than `max_chars` or with a
    control character other than newline, carriage return and tab."""
    text = str(raw or "")
    if len(text) > max_chars:
        raise ValueError(ERR_TOO_LONG.format(what=what, max_chars=max_chars))
    _check_characters(text, what, allowed="\n\r\t")
    return text
