"""What the imagery providers share: errors, results, and an HTTP client that keeps to a rate, a
request budget and retries with backoff. Stdlib only; no Django.

The client never lets an API key or token out: every message it raises is scrubbed of the
secrets it was given (raw and URL-encoded), and it names URLs without their query string.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0
DEFAULT_BACKOFF_MAX_S = 60.0
DEFAULT_MAX_BYTES = 40 * 1024 * 1024
USER_AGENT = "geogame-map-builder/1"
SCRUBBED = "***"

ERR_BUDGET = "the build's request budget of {limit} requests is spent; raise it (--max-requests) to go on"
ERR_GAVE_UP = "{what} failed {n} times, last: {reason}"


class ProviderError(Exception):
    """A provider answered in a way that stops this build (bad request, unexpected answer)."""


class AuthError(ProviderError):
    """The key or token was refused (or is missing): nothing will work until it is fixed."""


class QuotaExceeded(ProviderError):
    """The provider's quota or rate limit, or this build's own request budget, is spent.
    The build stops and can be resumed later."""


class TransientError(ProviderError):
    """Retries ran out on timeouts, 5xx answers or cut-off responses: this point failed, for now."""


class NoImagery(ProviderError):
    """The provider has no usable imagery here (after a candidate was found)."""


class Retry(Exception):
    """Raised by a response check to ask the client for another try."""

    def __init__(self, reason, *, quota=False, retry_after=None):
        super().__init__(reason)
        self.reason = reason
        self.quota = quota
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self):
        """The body as JSON, or Retry: a garbled answer is treated like a failed one."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise Retry(f"HTTP {self.status} answer is not JSON") from None


@dataclass(frozen=True)
class FetchedImage:
    """One image as fetched, not yet validated: its compass heading (None if unknown) and bytes."""

    heading: float | None
    data: bytes


@dataclass(frozen=True)
class Capture:
    """One location's imagery and provenance, ready for the same validation as an import."""

    source: str
    source_id: str
    lat: float
    lon: float
    projection: str  # "perspective" (one view per image) or "equirectangular" (one 360 panorama)
    images: tuple[FetchedImage, ...]
    captured_at: str = ""
    license: str = ""
    attribution: str = ""
    image_ids: tuple[str, ...] = field(default_factory=tuple)


def url_without_query(url):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class RateLimiter:
    """At most `per_second` request starts per second (None or 0: no limit)."""

    def __init__(self, per_second=None, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = None

    def wait(self):
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


class Budget:
    """Counts requests by kind and refuses any past `limit` (None: no limit)."""

    def __init__(self, limit=None):
        self.limit = limit
        self.counts = Counter()

    @property
    def used(self):
        return sum(self.counts.values())

    def spend(self, kind):
        if self.limit is not None and self.used >= self.limit:
            raise QuotaExceeded(ERR_BUDGET.format(limit=self.limit))
        self.counts[kind] += 1


class HttpClient:
    """GET with a rate limit, a request budget and retries.

    Retried, with exponential backoff and jitter (honouring Retry-After): timeouts, refused or
    reset connections, responses cut off before their Content-Length, HTTP 429 and 5xx, and
    whatever a caller's check turns into `Retry`. `sleep`, `clock` and `rng` are injectable so
    tests run the backoff instantly and reproducibly.
    """

    def __init__(
        self,
        *,
        secrets=(),
        timeout=DEFAULT_TIMEOUT_S,
        retries=DEFAULT_RETRIES,
        backoff_s=DEFAULT_BACKOFF_S,
        backoff_max_s=DEFAULT_BACKOFF_MAX_S,
        rate_per_s=None,
        budget=None,
        max_bytes=DEFAULT_MAX_BYTES,
        sleep=time.sleep,
        clock=time.monotonic,
        rng=None,
    ):
        self.secrets = [s for s in secrets if s]
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.limiter = RateLimiter(rate_per_s, clock=clock, sleep=sleep)
        self.budget = budget if budget is not None else Budget()
        self.max_bytes = max_bytes
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()

    def scrub(self, text):
        text = str(text)
        for secret in self.secrets:
            for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
                text = text.replace(form, SCRUBBED)
        return text

    def backoff(self, attempt, retry_after=None):
        """Seconds to wait before retry number attempt + 1: exponential, with 'equal jitter'
        (half fixed, half random) so that many clients do not retry in step."""
        delay = min(self.backoff_max_s, self.backoff_s * 2**attempt)
        delay = delay / 2 + self.rng.random() * delay / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def get(self, url, *, kind, what=None, check=None):
        """GET `url` and return `check(response)` (or the Response).

        1. Spend one request of `kind` from the budget (QuotaExceeded when it is spent).
        2. Wait for the rate limiter, send, read the whole body (bounded by max_bytes).
        3. On a transient failure or a `Retry` from `check`, back off and go to 1, at most
           `retries` times; then raise QuotaExceeded (when the last failure was a quota or rate
           limit) or TransientError. Other errors from `check` propagate at once.
        """
        what = what or f"GET {url_without_query(url)}"
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff(attempt - 1, last.retry_after))
            self.budget.spend(kind)
            self.limiter.wait()
            try:
                response = self._fetch(url)
                return check(response) if check else response
            except Retry as exc:
                last = exc
        message = self.scrub(ERR_GAVE_UP.format(what=what, n=self.retries + 1, reason=last.reason))
        raise (QuotaExceeded if last.quota else TransientError)(message)

    def _fetch(self, url):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        host = urllib.parse.urlsplit(url).netloc
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                status, headers, body = resp.status, resp.headers, self._read(resp)
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            try:
                body = self._read(exc)
            except (OSError, http.client.HTTPException, Retry):
                body = b""
        except TimeoutError:
            raise Retry(f"no answer from {host} within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise Retry(f"no answer from {host} within {self.timeout:g} s") from None
            reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
            raise Retry(self.scrub(f"cannot reach {host} ({reason})")) from None
        except http.client.IncompleteRead as exc:
            raise Retry(f"response from {host} cut off after {len(exc.partial)} bytes") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise Retry(self.scrub(f"connection to {host} failed ({type(exc).__name__}: {exc})")) from None
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        response = Response(status=status, headers=headers, body=body)
        if status == 429:
            raise Retry(
                self.scrub(f"HTTP 429 from {host} (rate limit or quota){_hint(body)}"),
                quota=True,
                retry_after=_retry_after(headers),
            )
        if status >= 500:
            raise Retry(f"HTTP {status} from {host}", retry_after=_retry_after(headers))
        return response

    def _read(self, resp):
        """The body, or Retry when it is shorter than its Content-Length (a cut-off transfer).
        A body over max_bytes is returned cut at max_bytes + 1, for the image checks to refuse."""
        chunks, size = [], 0
        while size <= self.max_bytes:
            chunk = resp.read(min(1 << 16, self.max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
        if size > self.max_bytes:
            return body
        declared = resp.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and len(body) < int(declared):
            raise Retry(f"response cut off after {len(body)} of {declared} bytes")
        return body


def _hint(body):
    """': <message>' from an error body (JSON error.message or error_message, or short text)."""
    try:
        data = json.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        message = (error or {}).get("message") if isinstance(error, dict) else data.get("error_message")
    except (ValueError, UnicodeDecodeError, AttributeError):
        message = body[:200].decode("utf-8", "replace") if body and not body.lstrip().startswith(b"<") else ""
    return f": {' '.join(str(message).split())}" if message else ""


def _retry_after(headers):
    raw = headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def angle_diff(a, b):
    """Smallest difference between two compass angles, in [0, 180]."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d
