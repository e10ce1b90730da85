"""Rate limits: at most N requests per S seconds per client for each named scope ("guess",
"upload", "study"; settings.GEOGAME_RATE_LIMITS, from GEOGAME_RATE_LIMIT_<SCOPE>="N/S").

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
