"""Matchmaking for the ranked queue, as plain functions (no Django): who plays whom.

Each waiting player is an Entry: its id, rating and when it joined. A player accepts an opponent
whose rating is within its window, which starts at WINDOW_START and widens by WINDOW_PER_S every
second it waits, up to WINDOW_MOST; two players pair when the one who has waited longer accepts
the other (so a long wait pulls in a newcomer). plan() pairs the longest waiting first, each with
the closest rating it accepts, and sends whoever is still alone after `machine_after_s` to the
machine player whose rating is closest (closest_machine)."""

from dataclasses import dataclass

WINDOW_START = 100.0  # rating points either side, on joining
WINDOW_PER_S = 25.0  # wider by this much every second of waiting
WINDOW_MOST = 800.0


@dataclass(frozen=True)
class Entry:
    id: str  # the player's id, as the queue keys it
    rating: float
    joined_at: float  # seconds (any clock, the same for every entry)


@dataclass(frozen=True)
class Plan:
    pairs: tuple  # ((Entry, Entry), ...): the one who waited longer first
    to_machine: tuple  # (Entry, ...): waited machine_after_s with nobody in reach


def window(wait_s):
    """How far from its own rating a player who has waited `wait_s` seconds accepts an opponent."""
    return min(WINDOW_MOST, WINDOW_START + WINDOW_PER_S * max(0.0, wait_s))


def plan(entries, now, machine_after_s):
    """Who plays whom now: pairs of waiting entries, and the entries to pair with a machine.
    Each entry appears at most once; the others wait on."""
    waiting = sorted(entries, key=lambda e: (e.joined_at, e.id))
    taken, pairs, to_machine = set(), [], []
    for a in waiting:
        if a.id in taken:
            continue
        reach = window(now - a.joined_at)
        candidates = [
            b for b in waiting if b.id != a.id and b.id not in taken and abs(b.rating - a.rating) <= reach
        ]
        if candidates:
            b = min(candidates, key=lambda b: (abs(b.rating - a.rating), b.joined_at, b.id))
            taken.update((a.id, b.id))
            pairs.append((a, b))
        elif now - a.joined_at >= machine_after_s:
            taken.add(a.id)
            to_machine.append(a)
    return Plan(tuple(pairs), tuple(to_machine))


def closest_machine(rating, machines):
    """The name of the machine player, of `machines` ((name, rating) pairs), whose rating is
    closest to `rating` (ties: the first name in alphabetical order); None if there is none."""
    if not machines:
        return None
    return min(machines, key=lambda m: (abs(m[1] - rating), m[0]))[0]
