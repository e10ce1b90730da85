"""The human-baseline protocol of seed 003, as plain functions: which locations a study uses,
the order each participant sees them in, and the self-reported fields."""

import hashlib
import hmac
import random
import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

PRACTICE = "practice"
TEST = "test"


def study_location_sets(candidate_ids, practice_count, test_count, seed):
    """(practice ids, test ids): disjoint, drawn once for the whole study with `seed` from
    `candidate_ids` (the map's test split). Every participant gets these same two sets."""
    ids = sorted(set(candidate_ids))
    need = practice_count + test_count
    if test_count < 1:
        raise ValueError("a study needs at least one test location")
    if len(ids) < need:
        raise ValueError(
            f"the map's test split has {len(ids)} playable locations; this study needs {need} "
            f"({practice_count} practice + {test_count} test)"
        )
    drawn = random.Random(seed).sample(ids, need)
    return sorted(drawn[:practice_count]), sorted(drawn[practice_count:])


def stratified_location_sets(candidates_by_city, practice_count, test_count, seed):
    """(practice ids, test ids) with the test set stratified by city: the same number of test
    locations from every city (test_count must divide evenly), practice drawn from what is left.
    ValueError naming each city's count when the split is too small for it."""
    cities = sorted(candidates_by_city)
    if not cities:
        raise ValueError("a stratified test set needs locations with cities")
    if test_count % len(cities):
        raise ValueError(
            f"a test set stratified by city needs a multiple of the map's {len(cities)} cities; "
            f"{test_count} is not one"
        )
    per_city = test_count // len(cities)
    short = {c: len(set(candidates_by_city[c])) for c in cities if len(set(candidates_by_city[c])) < per_city}
    if short:
        counts = ", ".join(f"{c}: {n}" for c, n in sorted(short.items()))
        raise ValueError(
            f"the map's test split is too small for {per_city} test locations per city "
            f"({test_count} over {len(cities)} cities); too few in {counts}"
        )
    rng = random.Random(seed)
    test, rest = [], []
    for city in cities:
        ids = sorted(set(candidates_by_city[city]))
        drawn = rng.sample(ids, len(ids))
        test += drawn[:per_city]
        rest += drawn[per_city:]
    if len(rest) < practice_count:
        raise ValueError(
            f"after {test_count} stratified test locations the test split has {len(rest)} left; "
            f"{practice_count} practice locations need as many"
        )
    return sorted(rng.sample(sorted(rest), practice_count)), sorted(test)


def participant_order(practice_ids, test_ids, participant_seed, *, design="random", row=None):
    """Practice locations shuffled with the participant's seed, then the test locations in the
    study's design: shuffled with the same seed (random) or row `row` of the balanced Latin square
    (latin_square; ordered_test_ids)."""
    rng = random.Random(participant_seed)
    practice, test = sorted(practice_ids), sorted(test_ids)
    rng.shuffle(practice)
    if design == LATIN_SQUARE:
        return practice + ordered_test_ids(test, design=design, participant_seed=participant_seed, row=row)
    rng.shuffle(test)
    return practice + test


def choice_order(candidates, participant_seed, index):
    """The answer buttons of one trial, top to bottom: the candidates shuffled with the
    participant's seed and the trial's index, so the order differs per trial and can be rebuilt."""
    order = sorted(candidates)
    random.Random(f"{participant_seed}:{index}").shuffle(order)
    return order


def timing(*, first_shown_at, shown_at, answered_at, hidden_ms=None):
    """(time_taken_s, elapsed_s, away_s) of one answer, in seconds.

    elapsed_s runs from the trial's first display to the answer, on the server's clock; time_taken_s
    only from its latest display (a participant who left the page and came back resumes the trial
    then) and without the time the browser reported the page hidden during that display; away_s
    is the difference."""
    elapsed = max(0.0, (answered_at - first_shown_at).total_seconds())
    since_shown = max(0.0, (answered_at - shown_at).total_seconds())
    hidden = min(since_shown, (hidden_ms or 0) / 1000)
    taken = since_shown - hidden
    return round(taken, 3), round(elapsed, 3), round(elapsed - taken, 3)


NUMBER_WORDS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def views_text(counts):
    """The instructions' words for how many views the locations have (their view counts):
    "three street views", "one street view", or "one to three street views" when they differ."""
    counts = sorted(set(counts)) or [0]
    low, high = (NUMBER_WORDS.get(n, str(n)) for n in (counts[0], counts[-1]))
    if low == high:
        return f"{low} street view{'' if counts[0] == 1 else 's'}"
    return f"{low} to {high} street views"


def phase_of(index, practice_count):
    return PRACTICE if index < practice_count else TEST


def clean_answers(raw, questions):
    """The optional self-reported fields: only known keys, only the offered choices."""
    raw = raw or {}
    answers = {}
    for q in questions:
        value = (raw.get(q["key"]) or "").strip()
        if not value:
            continue
        if value not in q["choices"]:
            raise ValueError(f"choose one of the offered answers for \u201c{q['label']}\u201d")
        answers[q["key"]] = value
    return answers


def check_questions(questions):
    """The study's optional questions: [{"key", "label", "choices": [two or more strings]}]."""
    if not isinstance(questions, list) or len(questions) > 20:
        raise ValueError("questions must be a list of at most 20 {key, label, choices} objects")
    keys = set()
    for q in questions:
        ok = (
            isinstance(q, dict)
            and isinstance(q.get("key"), str)
            and q["key"].isidentifier()
            and isinstance(q.get("label"), str)
            and q["label"].strip()
            and isinstance(q.get("choices"), list)
            and len(q["choices"]) >= 2
            and all(isinstance(c, str) and c.strip() for c in q["choices"])
        )
        if not ok or q["key"] in keys:
            raise ValueError(
                f"question {q!r} needs a unique identifier 'key', a 'label' and two or more 'choices'"
            )
        keys.add(q["key"])
    return questions


# -- Recruitment platforms -------------------------------------------------------------------------

PROLIFIC, MTURK, PID = "prolific", "mturk", "pid"
# Query parameters each platform appends to the study link, the first naming the person.
PLATFORM_PARAMS = {
    PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    MTURK: ("workerId", "assignmentId", "hitId"),
    PID: ("pid",),
}
PLATFORM_ID_FORMS = {
    "PROLIFIC_PID": (re.compile(r"[0-9a-fA-F]{24}"), "24 hexadecimal characters"),
    "STUDY_ID": (re.compile(r"[0-9a-fA-F]{24}"), "24 hexadecimal characters"),
    "SESSION_ID": (re.compile(r"[0-9A-Za-z]{1,64}"), "up to 64 letters and digits"),
    "workerId": (re.compile(r"[0-9A-Z]{10,30}"), "10 to 30 capital letters and digits"),
    "assignmentId": (re.compile(r"[0-9A-Z]{10,64}"), "10 to 64 capital letters and digits"),
    "hitId": (re.compile(r"[0-9A-Z]{10,64}"), "10 to 64 capital letters and digits"),
    "pid": (re.compile(r"[0-9A-Za-z_.-]{1,64}"), "up to 64 letters, digits, '_', '.' or '-'"),
}
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


def platform_ids(query):
    """(platform, {param: value}) from a study link's query string (a mapping of str to str);
    ("", {}) when it names no platform. ValueError, saying which and why, for a malformed or
    missing id, an MTurk preview, or two platforms at once."""
    found = {name: params for name, params in PLATFORM_PARAMS.items() if any(p in query for p in params)}
    if not found:
        return "", {}
    if len(found) > 1:
        raise ValueError(f"the link names more than one recruitment platform ({', '.join(sorted(found))})")
    ((platform, params),) = found.items()
    if platform == MTURK and query.get("assignmentId") == MTURK_PREVIEW:
        raise ValueError("this is MTurk's preview of the task: accept the HIT to take part")
    ids = {}
    for param in params:
        value = query.get(param)
        if value is None or value == "":
            if param == params[0]:
                raise ValueError(f"the link has no {param}: open the study from the platform's own link")
            continue
        form, words = PLATFORM_ID_FORMS[param]
        if not isinstance(value, str) or not form.fullmatch(value):
            raise ValueError(f"{param} is not a valid id: it must be {words}")
        ids[param] = value
    return platform, ids


def platform_id_hash(platform, ids, pepper):
    """A keyed hash (HMAC-SHA-256 with the server's pepper) of the person's platform id: the same
    person gets the same hash in a study (repeats are refused) and the id cannot be read back."""
    person = ids[PLATFORM_PARAMS[platform][0]]
    if platform == PROLIFIC:
        person = person.lower()
    return hmac.new(pepper.encode(), f"{platform}:{person}".encode(), hashlib.sha256).hexdigest()


# -- Quotas ----------------------------------------------------------------------------------------


def check_quotas(quotas, questions):
    """{question key: {choice: maximum}} over the study's own questions and choices."""
    if not isinstance(quotas, dict):
        raise ValueError("quotas must be an object {question: {choice: maximum}}")
    by_key = {q["key"]: q for q in questions}
    for key, limits in quotas.items():
        if key not in by_key:
            raise ValueError(f"quota on {key!r}: the study has no such question")
        if not isinstance(limits, dict) or not limits:
            raise ValueError(f"quota on {key!r} must map choices to maximums")
        for choice, limit in limits.items():
            if choice not in by_key[key]["choices"]:
                raise ValueError(f"quota on {key!r}: {choice!r} is not one of its choices")
            if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1_000_000:
                raise ValueError(f"quota on {key!r}={choice!r} must be a whole number from 0 to 1000000")
    return quotas


def quota_refusal(*, joined, max_participants, group_counts, quotas, answers):
    """Why a newcomer with these self-reported `answers` cannot join (a message), or None.
    `joined`: participants so far; `group_counts`: {(question, choice): participants so far}."""
    if max_participants is not None and joined >= max_participants:
        return "this study has all the participants it needs"
    for key, limits in quotas.items():
        choice = answers.get(key)
        if choice in limits and group_counts.get((key, choice), 0) >= limits[choice]:
            return "this study has all the participants it needs from your group"
    return None


# -- Data quality ----------------------------------------------------------------------------------


def check_comprehension(items):
    """The comprehension check: [{"question", "choices": [two or more], "answer": one of them}]."""
    if not isinstance(items, list) or len(items) > 10:
        raise ValueError("the comprehension check must be a list of at most 10 {question, choices, answer}")
    for item in items:
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("question"), str)
            and item["question"].strip()
            and isinstance(item.get("choices"), list)
            and len(item["choices"]) >= 2
            and all(isinstance(c, str) and c.strip() for c in item["choices"])
            and item.get("answer") in item["choices"]
        )
        if not ok:
            raise ValueError(
                f"comprehension item {item!r} needs a 'question', two or more 'choices' and the 'answer'"
            )
    return items


def comprehension_passed(items, given):
    """Whether every comprehension question got its right answer (`given`: {index as str: choice})."""
    return all(given.get(str(i)) == item["answer"] for i, item in enumerate(items))


def insert_catch_trials(order, practice_count, catch_ids, participant_seed):
    """`order` with the catch trials placed among the test trials, at positions drawn with the
    participant's seed (never first in the test phase, so it starts with a real location)."""
    rng = random.Random(f"catch:{participant_seed}")
    practice, test = list(order[:practice_count]), list(order[practice_count:])
    for catch in sorted(catch_ids):
        test.insert(rng.randint(1, len(test)) if test else 0, catch)
    return practice + test


# name -> what it excludes; the value a study declares is the rule's threshold (or true).
EXCLUSION_RULES = {
    "unfinished": "did not answer every trial (true to apply)",
    "max_failed_catch_trials": "failed more catch trials than this",
    "min_median_time_s": "median time_taken_s over test trials below this (answering too fast)",
    "max_timeouts": "more timed-out test trials than this",
}


def check_exclusion_rules(rules):
    if not isinstance(rules, dict):
        raise ValueError("exclusion rules must be an object {rule: threshold}")
    for name, value in rules.items():
        if name not in EXCLUSION_RULES:
            raise ValueError(f"unknown exclusion rule {name!r}; rules: {', '.join(EXCLUSION_RULES)}")
        if name == "unfinished":
            if not isinstance(value, bool):
                raise ValueError("exclusion rule 'unfinished' takes true or false")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100_000:
            raise ValueError(f"exclusion rule {name!r} takes a number from 0 to 100000")
    return rules


def exclusions(rows, finished, rules):
    """{participant: [rules they fail]} over export rows (geogame.studies.selectors.study_rows);
    `finished`: {participant: bool} for everyone (also those without rows)."""
    by_participant = {pid: [] for pid in finished}
    for r in rows:
        by_participant.setdefault(r["participant"], []).append(r)
    failed = {}
    for pid, own in by_participant.items():
        test = [r for r in own if r["phase"] == TEST and not r.get("catch_trial")]
        reasons = []
        if rules.get("unfinished") and not finished.get(pid, False):
            reasons.append("unfinished")
        if "max_failed_catch_trials" in rules:
            misses = sum(1 for r in own if r.get("catch_trial") and not r.get("catch_passed"))
            if misses > rules["max_failed_catch_trials"]:
                reasons.append("max_failed_catch_trials")
        if "min_median_time_s" in rules and test:
            times = sorted(r["time_taken_s"] for r in test)
            mid = len(times) // 2
            median = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
            if median < rules["min_median_time_s"]:
                reasons.append("min_median_time_s")
        if "max_timeouts" in rules and sum(1 for r in test if r["timed_out"]) > rules["max_timeouts"]:
            reasons.append("max_timeouts")
        if reasons:
            failed[pid] = reasons
    return failed


# -- Counterbalancing ------------------------------------------------------------------------------

RANDOM_ORDER, LATIN_SQUARE = "random", "latin_square"
ORDER_DESIGNS = {
    RANDOM_ORDER: "test locations in an order shuffled per participant",
    LATIN_SQUARE: "balanced Latin square (Williams design): participant k gets row k mod rows",
}


def latin_square_rows(n):
    """How many rows the balanced Latin square over n items has: n when n is even, 2n when odd."""
    return n if n % 2 == 0 else 2 * n


def latin_square_row(n, k):
    """Row `k mod rows` of the balanced Latin square (Williams design) over items 0..n-1.

    The first row is 0, 1, n-1, 2, n-2, 3, ...; row r adds r to every entry (mod n). For even n
    these n rows put every item first once and every ordered pair of items next to each other once;
    for odd n no single square can do the latter, so rows n..2n-1 are rows 0..n-1 reversed (the pair
    of squares), and every ordered pair is adjacent twice over the 2n rows."""
    if n < 1:
        return []
    rows = latin_square_rows(n)
    k %= rows
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    row = [(item + k % n) % n for item in first]
    return row[::-1] if k >= n else row


def latin_square(n):
    """Every row of the balanced Latin square over n items (latin_square_row)."""
    return [latin_square_row(n, k) for k in range(latin_square_rows(n))]


def ordered_test_ids(test_ids, *, design, participant_seed, row=None):
    """The test locations in a participant's order: shuffled with their seed (random), or row `row`
    of the balanced Latin square over the test ids in ascending order (latin_square)."""
    ids = sorted(test_ids)
    if design == LATIN_SQUARE:
        return [ids[i] for i in latin_square_row(len(ids), row or 0)]
    random.Random(participant_seed).shuffle(ids)
    return ids


# -- Instructions pages ----------------------------------------------------------------------------

MAX_INSTRUCTION_PAGES = 20
MAX_INSTRUCTION_CHARS = 5000
PAGE_BREAK = "---"  # a line of its own between two pages, in an instructions file or the form


def instructions_from_text(text):
    """The pages of an instructions file or form field: plain text, pages separated by a line holding
    only '---', paragraphs by blank lines. Empty pages are dropped."""
    pages, page = [], []
    for line in str(text or "").replace("\r\n", "\n").split("\n"):
        if line.strip() == PAGE_BREAK:
            pages.append("\n".join(page).strip())
            page = []
        else:
            page.append(line)
    pages.append("\n".join(page).strip())
    return [p for p in pages if p]


def check_instructions(pages):
    """1 to 20 pages of plain text, each at most 5000 characters, no NUL or other control characters
    than newline and tab."""
    if not isinstance(pages, list) or not 1 <= len(pages) <= MAX_INSTRUCTION_PAGES:
        raise ValueError(f"the instructions must be 1 to {MAX_INSTRUCTION_PAGES} pages")
    for number, page in enumerate(pages, 1):
        if not isinstance(page, str) or not page.strip():
            raise ValueError(f"instructions page {number} is empty")
        if len(page) > MAX_INSTRUCTION_CHARS:
            raise ValueError(f"instructions page {number} is longer than {MAX_INSTRUCTION_CHARS} characters")
        for ch in page:
            if ch not in "\n\t" and (ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF):
                raise ValueError(
                    f"instructions page {number} contains an unprintable character (U+{ord(ch):04X})"
                )
    return pages


def instructions_sha256(pages):
    """The version of a study's instructions: SHA-256 of its pages joined by page breaks."""
    return hashlib.sha256(f"\n{PAGE_BREAK}\n".join(pages).encode()).hexdigest()


def default_instructions(
    *,
    practice,
    test_trials,
    catch,
    views,
    city_mode,
    time_limit_s,
    answers_after_practice,
    answers_after_test,
):
    """The one instructions page a study gets unless it is given its own (the study's numbers in words)."""

    def plural(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    words = [
        f"You will see {plural(practice, 'practice location')}, then {plural(test_trials, 'test location')}"
        + (f" ({catch} of them an attention check)" if catch else "")
        + f", each as {views}.",
        "For each, pick the city it is in." if city_mode else "For each, pin it on the world map.",
    ]
    if time_limit_s:
        words.append(f"You have {time_limit_s} seconds per location.")
    if answers_after_practice:
        words.append("After each practice location you see the answer;")
    if not answers_after_test:
        words.append("after test locations you do not.")
    return [" ".join(words)]


# -- Payment ---------------------------------------------------------------------------------------

CENT = Decimal("0.01")
MAX_BONUS_RATE = Decimal("1000")
MAX_BONUS_CAP = Decimal("10000")
CURRENCY = re.compile(r"[A-Z]{3}")


def _decimal(value, what):
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{what} must be a decimal number written as text, like 0.50")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what} must be a decimal number, like 0.50") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a decimal number, like 0.50")
    return number


def check_bonus_rule(rate, cap, currency):
    """(rate per 1000 points, cap, currency) of a performance bonus, as Decimals and an ISO 4217 code;
    (None, None, "") for no bonus. A rate up to 1000 with at most 4 decimals, a cap up to 10000 with
    at most 2 (none: no cap), and a three-letter currency are required together."""
    if rate in (None, ""):
        if cap not in (None, ""):
            raise ValueError("a bonus cap needs a bonus rate")
        return None, None, ""
    rate = _decimal(rate, "the bonus rate per 1000 points")
    if not 0 < rate <= MAX_BONUS_RATE or rate.as_tuple().exponent < -4:
        raise ValueError(
            f"the bonus rate per 1000 points must be above 0, "
            f"at most {MAX_BONUS_RATE}, with at most 4 decimals"
        )
    if cap not in (None, ""):
        cap = _decimal(cap, "the bonus cap")
        if not 0 < cap <= MAX_BONUS_CAP or cap.as_tuple().exponent < -2:
            raise ValueError(
                f"the bonus cap must be above 0, at most {MAX_BONUS_CAP}, with at most 2 decimals"
            )
    else:
        cap = None
    currency = str(currency or "").strip().upper()
    if not CURRENCY.fullmatch(currency):
        raise ValueError("the bonus currency must be a three-letter code such as GBP or USD")
    return rate, cap, currency


def bonus_amount(points, rate, cap=None):
    """The bonus for `points` (an int) at `rate` money per 1000 points, rounded down to the cent and
    at most `cap`: exact decimal arithmetic, never a float."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise ValueError("points must be a whole number, 0 or more")
    amount = (Decimal(points) * Decimal(rate) / 1000).quantize(CENT, rounding=ROUND_DOWN)
    return min(amount, Decimal(cap)) if cap is not None else amount


# Why a participant is on the reject list: the exclusion rules that say they did not attend.
REJECT_RULES = {"max_failed_catch_trials": "failed the attention checks (catch trials)"}


def payment_verdict(*, finished, excluded_by):
    """("approve" | "reject" | "", reason) of one participant: approve a finished one who passes every
    exclusion rule; reject one who failed the catch trials (a pre-declared rule); otherwise neither
    (unfinished, or excluded by another rule: the researcher decides)."""
    rejected = [REJECT_RULES[r] for r in excluded_by if r in REJECT_RULES]
    if rejected:
        return "reject", "; ".join(rejected)
    if finished and not excluded_by:
        return "approve", ""
    return "", ""
