"""Rate limits: at most N requests per S seconds per client for each named scope ("guess",
"upload", "study", "game", "duel"...; settings.GEOGAME_RATE_LIMITS, from
GEOGAME_RATE_LIMIT_<SCOPE>="N/S").

A fixed window per client, opened by its first request: the counter lives in the Django cache,
which is Redis when REDIS_URL is set, so the limit holds across daphne processes. Over the limit
the answer is 429 with a JSON error and Retry-After. If the cache fails, requests pass (logged):
a Redis restart must not stop the game.

    @rate_limited("upload")                      # per client address
    def privacy_check(request): ...

    @rate_limited("guess", key=session_or_address)
    def api_guess(request, ...): ...
"""

import functools
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse

log = logging.getLogger(__name__)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def client_address(request):
    """The client's address (daphne's peer; behind a proxy, run daphne with --proxy-headers)."""
    return "ip:" + (request.META.get("REMOTE_ADDR") or "unknown")


def session_or_address(request):
    """The browser session when there is one (players behind one NAT are limited apiece), else
    the address (a client that drops its cookies shares its address's budget)."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    return "session:" + key if key else client_address(request)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    period_s: int
    retry_after_s: int = 0


def hit(scope, client):
    """Count one request of `client` in `scope`; whether it is within the scope's limit."""
    rule = settings.GEOGAME_RATE_LIMITS.get(scope)
    if rule is None:
        raise KeyError(f"no rate limit named {scope!r} in GEOGAME_RATE_LIMITS")
    limit, period_s = rule
    if limit <= 0:
        return Decision(True, limit, period_s)
    key = f"ratelimit:{scope}:{client}"
    now = time.time()
    try:
        # Both keys expire together with the window; incr keeps the expiry add gave the count.
        cache.add(key + ":start", now, timeout=period_s)
        cache.add(key, 0, timeout=period_s)
        count = cache.incr(key)
        started = cache.get(key + ":start", now)
    except ValueError:  # the window expired between add and incr: this is its first request
        return Decision(True, limit, period_s)
    except Exception:
        log.warning("rate limit %s not applied: the cache failed", scope, exc_info=True)
        return Decision(True, limit, period_s)
    if count <= limit:
        return Decision(True, limit, period_s)
    retry_after_s = max(1, math.ceil(started + period_s - now))
    return Decision(False, limit, period_s, retry_after_s)


ERR_TOO_MANY_CREATED = (
    "too many new {what} from this address or browser: at most {limit} every {period_s} s; "
    "try again in {retry_after_s} s"
)


def creation_hit(scope, request):
    """Count one more game or duel (`scope`: "game", "duel") created by this request's client, per
    address under `scope` and per browser session under `scope`_session. New sessions are free,
    so the address is what bounds a client that drops its cookies (issue 12's answer oracle);
    the session bounds one browser among many behind a shared address."""
    decision = hit(scope, client_address(request))
    key = getattr(getattr(request, "session", None), "session_key", None)
    if decision.allowed and key:
        decision = hit(f"{scope}_session", "session:" + key)
    return decision


def create_from_form(scope, what, request, create, errors):
    """Run `create()` for a creation form unless this client has created too many `what` lately.
    Returns (created, error, status, retry_after_s): the object, or the message for the form with
    400 (`create` raised one of `errors`) or 429 (over the limit, with the wait)."""
    decision = creation_hit(scope, request)
    if not decision.allowed:
        return None, too_many_created(decision, what), 429, decision.retry_after_s
    try:
        return create(), None, 200, None
    except errors as exc:
        return None, getattr(exc, "message", None) or str(exc), 400, None


def too_many_created(decision, what):
    """The message for a refused creation (a form shows it, with status 429 and Retry-After)."""
    return ERR_TOO_MANY_CREATED.format(
        what=what, limit=decision.limit, period_s=decision.period_s, retry_after_s=decision.retry_after_s
    )


def too_many_requests(decision):
    response = JsonResponse(
        {
            "error": f"too many requests: at most {decision.limit} every {decision.period_s} s; "
            f"try again in {decision.retry_after_s} s",
            "retry_after": decision.retry_after_s,
        },
        status=429,
    )
    response["Retry-After"] = str(decision.retry_after_s)
    return response


def rate_limited(scope, *, key=client_address, methods=UNSAFE_METHODS):
    """A view decorator: requests with a method in `methods` count against `scope`'s limit per
    `key(request)`; over it, 429. Other methods (the page showing a form) are not counted."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                decision = hit(scope, key(request))
                if not decision.allowed:
                    return too_many_requests(decision)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; take() spends one when there is one. For
    bursts on one socket, where a fixed window in the cache would cost a round trip a message.
    In-process and not thread-safe: use it from one event loop."""

    def __init__(self, capacity, rate, clock=time.monotonic):
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self.tokens, self.updated = float(capacity), clock()

    def _refill(self):
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self):
        self._refill()
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def full(self):
        self._refill()
        return self.tokens >= self.capacity


class TokenBuckets:
    """A TokenBucket per key (a client address), at most `max_keys` of them: when there are more,
    the full ones (idle clients) go first, then the oldest."""

    def __init__(self, capacity, rate, max_keys=10_000, clock=time.monotonic):
        self.capacity, self.rate, self.max_keys, self.clock = capacity, rate, max_keys, clock
        self.buckets = {}

    def take(self, key):
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._prune()
            bucket = self.buckets[key] = TokenBucket(self.capacity, self.rate, self.clock)
        return bucket.take()

    def _prune(self):
        for key in [k for k, b in self.buckets.items() if b.full()]:
            del self.buckets[key]
        while len(self.buckets) >= self.max_keys:
            del self.buckets[next(iter(self.buckets))]
