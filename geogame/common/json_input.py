"""JSON from clients (an API body, a duel message), read with bounds. Pure; no Django.

json.loads alone answers hostile input with exceptions nobody catches: RecursionError for a
few thousand nested brackets, ValueError (not JSONDecodeError) for an integer of more than 4300
digits, and it keeps a 400-digit integer that later overflows float(). Here each of those is a
JsonInputError whose `reason` a client can act on."""

import json

MAX_DEPTH = 16  # no message of ours nests more than 3 levels
MAX_INT_DIGITS = 15  # every whole number we take (indices, ms, pixels) is far smaller

ERR_NOT_JSON = "not valid JSON"
ERR_NOT_TEXT = "not UTF-8 text"
ERR_TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep"
ERR_BIG_INT = f"a whole number in the JSON has more than {MAX_INT_DIGITS} digits"


class JsonInputError(ValueError):
    """`reason` is one of the ERR_ constants; str() adds where the parser stopped, if it said."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason


def _int(text):
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonInputError(ERR_BIG_INT)
    return int(text)


def _refuse_constant(name):
    raise JsonInputError(ERR_NOT_JSON, f"{name} is not a JSON number")


def _depth(value):
    """How deep lists and objects nest in `value` (a scalar is 0); iterative, so never a RecursionError."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in item)
    return deepest


def loads(data, *, constants=False):
    """`data` (str, or bytes as UTF-8) parsed, or JsonInputError.

    NaN, Infinity and -Infinity are not JSON; with `constants` they are read as float nan/inf
    (so a range check can say "must be finite"), else refused as not JSON."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError(ERR_NOT_TEXT, f"{exc.reason} at byte {exc.start}") from None
    parse_constant = float if constants else _refuse_constant
    try:
        value = json.loads(data, parse_int=_int, parse_constant=parse_constant)
    except RecursionError:
        raise JsonInputError(ERR_TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(ERR_NOT_JSON, f"{exc.msg}: line {exc.lineno} column {exc.colno}") from None
    if _depth(value) > MAX_DEPTH:
        raise JsonInputError(ERR_TOO_DEEP)
    return value
