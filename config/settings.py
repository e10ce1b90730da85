"""Settings: everything comes from the environment, with embedded defaults.

With nothing set, geogame runs on SQLite with the in-memory channel layer and
in-process background work. REDIS_URL switches Channels and Celery to Redis;
DATABASE_URL (e.g. postgres://...) switches the database.
"""

import hashlib
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_rate(name, default):
    """A rate limit "N/S": at most N requests every S seconds; "off" (or N = 0) for none."""
    raw = os.environ.get(name) or default
    if raw.strip().lower() == "off":
        return (0, 1)
    try:
        count, seconds = (int(part) for part in raw.split("/"))
        if count < 0 or seconds <= 0:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be N/S (N requests every S seconds) or off, got {raw!r}"
        ) from None
    return (count, seconds)


DEBUG = env_bool("GEOGAME_DEBUG", False)
# A deployment reachable by others: a secret key of its own is required, DEBUG is refused, and
# the HTTPS settings below default to on (`manage.py check --deploy` is clean with them).
PRODUCTION = env_bool("GEOGAME_PRODUCTION", False)
SECRET_KEY = env_str("GEOGAME_SECRET_KEY")
DEVELOPMENT_SECRET_KEY = "geogame-local-development-key-not-for-deployment"
MIN_SECRET_KEY_LENGTH, MIN_SECRET_KEY_UNIQUE_CHARACTERS = 50, 5  # as django.core.checks.security.base
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("GEOGAME_DEBUG must be off when GEOGAME_PRODUCTION is set")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "GEOGAME_SECRET_KEY must be set when GEOGAME_PRODUCTION is set (50+ random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    # A local-only fallback so `make play` works on a fresh clone.
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
if PRODUCTION and (
    SECRET_KEY == DEVELOPMENT_SECRET_KEY
    or len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH
    or len(set(SECRET_KEY)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS
):
    # Django's own criterion (check --deploy, security.W009), enforced: a guessable key forges sessions.
    raise ImproperlyConfigured(
        "GEOGAME_SECRET_KEY is too weak for GEOGAME_PRODUCTION: it must not be the development key, and "
        f"needs at least {MIN_SECRET_KEY_LENGTH} characters, {MIN_SECRET_KEY_UNIQUE_CHARACTERS} of them "
        "different (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

ALLOWED_HOSTS = [h for h in env_str("GEOGAME_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("GEOGAME_CSRF_TRUSTED_ORIGINS").split(",") if o]

# HTTPS: the site is only served over TLS (directly or by a proxy in front of daphne).
HTTPS = env_bool("GEOGAME_HTTPS", PRODUCTION)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("GEOGAME_SSL_REDIRECT", HTTPS)
# Health probes come over plain HTTP from inside the deployment (docker-compose, load balancers).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("GEOGAME_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("GEOGAME_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("GEOGAME_HSTS_PRELOAD", HTTPS)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips the client's own).
if env_bool("GEOGAME_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy on every response (django-csp; geogame/common/content_security.py adds this
# site's own WebSocket origin, ws(s)://host, to connect-src for the duel socket). Scripts and
# styles come only from the site's own files: no inline <script>, style="" or on*= handlers in
# templates (data for scripts goes in data- attributes or json_script), and text from people or
# files reaches the page only as textContent (README, "Security"). Leaflet sets its styles through
# the CSSOM, which style-src does not restrict.
# The base map is offline by default (Natural Earth outlines and GeoNames city labels served by this
# site). GEOGAME_TILE_URL ("https://tiles.example.org/{z}/{x}/{y}.png", a tile server of your own or
# a provider whose terms allow your use) draws raster tiles under them, credited with
# GEOGAME_TILE_ATTRIBUTION (plain text); its origin is added to img-src.
TILE_URL = env_str("GEOGAME_TILE_URL").strip()
TILE_ATTRIBUTION = env_str("GEOGAME_TILE_ATTRIBUTION").strip()
if TILE_URL and not re.match(r"^https?://[^/{}\s]+/\S*\{z\}\S*$", TILE_URL):
    raise ImproperlyConfigured(
        f"GEOGAME_TILE_URL must be an http(s) URL with {{z}}, {{x}} and {{y}} in its path, not {TILE_URL!r}"
    )
if TILE_URL and not TILE_ATTRIBUTION:
    raise ImproperlyConfigured("GEOGAME_TILE_URL needs GEOGAME_TILE_ATTRIBUTION: tiles must be credited")
TILE_ORIGIN = re.match(r"^https?://[^/]+", TILE_URL).group(0) if TILE_URL else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the empty favicon; the tile server's origin only when one is configured
        "img-src": ["'self'", "data:", *([TILE_ORIGIN] if TILE_ORIGIN else [])],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Where imported images, downloaded samples, model artefacts and caches live.
DATA_DIR = Path(env_str("GEOGAME_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = DATA_DIR / "media"
# Images are never served from MEDIA_URL: only through opaque per-round URLs.
MEDIA_URL = "/media-not-served/"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "players",
    "geogame",  # the old app label: its migrations only
    "geogame.maps",
    "geogame.game",
    "geogame.duels",
    "geogame.studies",
    "geogame.privacy",
    "geogame.bots",
    "geogame.benchmarks",
    "geogame.accounts",
    "geogame.challenges",
    "geogame.leaderboards",
    "geogame.streaks",
    "geogame.ranked",
    "inference",
    "axes",  # throttles log-in (the admin's and the staff's): settings below
]

MIDDLEWARE = [
    "geogame.common.logs.RequestLogMiddleware",
    # NUL in a path, query, cookie or form: 400 before a session or a view asks the database with it.
    "geogame.common.middleware.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "geogame.common.content_security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database error in a view: 503 saying so (geogame/common/middleware.py), not a bare 500 page.
    "geogame.common.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out log-in into its lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "geogame.maps.context_processors.basemap",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'geogame.sqlite3'}"),
        conn_max_age=env_int("GEOGAME_DB_CONN_MAX_AGE", 0),
        # A kept connection that the server dropped (restart, idle timeout) is replaced, not used.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite cannot create the folder of its file; a fresh clone has no var/ yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Concurrent guesses from several threads/processes: wait for the lock
    # instead of failing at once, and use WAL so readers don't block writers.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        # WAL with synchronous=NORMAL: a commit no longer waits for an fsync (2 ms here, and every
        # write holds the one database lock); the database stays consistent, a power cut may lose
        # the last commits. Duels write several times a round (bench/duel_load.py).
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # The test database is a file too, so background threads and worker processes
    # started by tests see the same data; one per test run, so runs don't collide.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-geogame-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One test database per test run too: runs sharing a server (several people, CI) don't collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    # A database host that does not answer at all (gone, or a network cut: nothing refuses) fails a
    # request after this long, as a 503 (geogame.common.middleware), not after the kernel's ~2 minutes of
    # connect retries; libpq has no connect timeout by default.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "GEOGAME_DB_CONNECT_TIMEOUT_S", 5
    )
    # What pg_stat_activity shows for this process's connections (tools/stack.py names each process).
    DATABASES["default"]["OPTIONS"]["application_name"] = env_str("GEOGAME_DB_APPLICATION_NAME", "geogame")
    # A pool of at most GEOGAME_DB_POOL_SIZE connections per process (Django's "pool", psycopg-pool):
    # under daphne every request runs in a thread of its own, so without it the connections in use
    # are as many as the requests in flight. A request that waits longer than
    # GEOGAME_DB_POOL_TIMEOUT_S for one (all busy, or the database refusing) fails with 503.
    # Each connection is checked as it is taken, so one the server dropped is replaced, not used.
    DB_POOL_SIZE = env_int("GEOGAME_DB_POOL_SIZE", 0)
    if DB_POOL_SIZE < 0:
        raise ImproperlyConfigured(f"GEOGAME_DB_POOL_SIZE must be 0 (no pool) or more, got {DB_POOL_SIZE}")
    if DB_POOL_SIZE > 0:
        if DATABASES["default"]["CONN_MAX_AGE"]:
            raise ImproperlyConfigured(
                "GEOGAME_DB_POOL_SIZE needs GEOGAME_DB_CONN_MAX_AGE=0: pooled connections go back to "
                "the pool after each request instead of being kept by its thread"
            )
        # Django's backend, but its pool replaces every dead connection at once (see that module).
        DATABASES["default"]["ENGINE"] = "geogame.common.pooled_postgresql"
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(2, DB_POOL_SIZE),
            "max_size": DB_POOL_SIZE,
            "timeout": env_float("GEOGAME_DB_POOL_TIMEOUT_S", 3.0),
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Log-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is refused (429, templates/players/login_locked.html) until the cool-off passes, even
# with the right password. Attempts are kept in the database (the admin lists and resets them).
AUTHENTICATION_BACKENDS = [
    "players.auth.LoginThrottleBackend",  # axes' check, first
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("GEOGAME_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GEOGAME_LOGIN_COOLOFF_MIN", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "players/login_locked.html"
AXES_VERBOSE = False

# Accounts (geogame/accounts): where log-in sends people, and how password-reset mail goes out (the
# console by default: the message is printed in the server's log).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "me"
EMAIL_BACKEND = env_str("GEOGAME_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("GEOGAME_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("GEOGAME_EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("GEOGAME_EMAIL_FROM", "geogame@localhost")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Static files are served by whitenoise straight from the finders (no collectstatic step).
STATIC_ROOT = env_str("GEOGAME_STATIC_ROOT") or None
# Front-end libraries come from npm (package.json, installed by `make setup`);
# they are served from node_modules under stable prefixes.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
    ("vendor/topojson-client", NODE_MODULES / "topojson-client" / "dist"),
    ("vendor/world-atlas", NODE_MODULES / "world-atlas"),
    ("vendor/panzoom", NODE_MODULES / "@panzoom" / "panzoom" / "dist"),
    ("vendor/pannellum", NODE_MODULES / "pannellum" / "build"),
]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub: a group_send is one PUBLISH, and each daphne process holds one subscription
            # per group; the list-based RedisChannelLayer pops per-channel lists and can drop a
            # message when a busy process's sockets come and go (django/channels#1683).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # redis-py 8's defaults do not suit channels_redis: reads give up after 5 s, while the
            # layer blocks 5 s in BZPOPMIN for the next message (an idle consumer died with "Timeout
            # reading"), and a pool refuses a 101st concurrent command (a burst of sockets joining
            # their groups failed with "Too many connections").
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}],
                "prefix": env_str("GEOGAME_CHANNELS_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds rate-limit counters (geogame.common.ratelimit): in Redis they hold across processes.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("GEOGAME_CACHE_PREFIX", "geogame"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when configured; otherwise tasks run in-process (see
# geogame.common.background) so a fresh clone needs no broker.
CELERY_BROKER_URL = REDIS_URL or "memory://"
# The queue tasks go to and workers read; another name lets several test runs or deployments share
# one Redis database without taking each other's tasks (GEOGAME_CHANNELS_PREFIX does the same for
# the channel layer).
CELERY_TASK_DEFAULT_QUEUE = env_str("GEOGAME_CELERY_QUEUE", "celery")
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("GEOGAME_TASK_SOFT_TIME_LIMIT_S", 60)
CELERY_TASK_TIME_LIMIT = env_int("GEOGAME_TASK_TIME_LIMIT_S", 90)
# An unacknowledged task (its worker died) is handed to another worker after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("GEOGAME_TASK_VISIBILITY_TIMEOUT_S", 300)}
CELERY_ACCEPT_CONTENT = ["json"]
# Without REDIS_URL, tasks that run a model (machine guesses, training, the privacy check's image
# score) run in up to this many child processes of the web process, so that the process serving HTTP
# never loads torch (geogame.common.background). False runs them in this process (tests on an
# in-memory database).
GEOGAME_LOCAL_MODEL_PROCESS = env_bool("GEOGAME_LOCAL_MODEL_PROCESS", True)
GEOGAME_LOCAL_MODEL_PROCESSES = env_int("GEOGAME_LOCAL_MODEL_PROCESSES", 2)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Game rules that operators may tune.
GEOGAME_ROUNDS_PER_GAME = env_int("GEOGAME_ROUNDS_PER_GAME", 5)
# Grace for network latency on a guess sent right at the deadline.
GEOGAME_DEADLINE_GRACE_S = env_float("GEOGAME_DEADLINE_GRACE_S", 2.0)
GEOGAME_SPLIT_SEED = env_int("GEOGAME_SPLIT_SEED", 20240601)
# Where fetch_sample and play look for a local copy of the demo pack.
GEOGAME_SAMPLE_DIR = env_str("GEOGAME_SAMPLE_DIR")
# The demo pack's manifest (source_url + sha256 per image); the shipped one by default.
GEOGAME_SAMPLE_MANIFEST = env_str(
    "GEOGAME_SAMPLE_MANIFEST", str(BASE_DIR / "geogame" / "data" / "streetscapes-sample" / "manifest.csv")
)
# Uploads/imports above these limits are refused before decoding.
GEOGAME_MAX_IMAGE_BYTES = env_int("GEOGAME_MAX_IMAGE_BYTES", 40 * 1024 * 1024)
GEOGAME_MAX_IMAGE_PIXELS = env_int("GEOGAME_MAX_IMAGE_PIXELS", 64_000_000)
# Anonymous uploads (the privacy check) decode at most this many pixels: 16 Mpx holds any 12 Mpx phone
# photo or 5K screenshot as PNG (64 MB as RGBA), and JPEGs up to GEOGAME_MAX_IMAGE_PIXELS pass because
# they are decoded at 1/2-1/8 scale. A 64 Mpx PNG would cost 256 MB per request.
GEOGAME_MAX_UPLOAD_PIXELS = env_int("GEOGAME_MAX_UPLOAD_PIXELS", 16_000_000)
# Uploads decoded and scored at once per process; more wait up to a second, then get 503 + Retry-After.
GEOGAME_UPLOAD_CONCURRENCY = env_int("GEOGAME_UPLOAD_CONCURRENCY", 2)
# The privacy check waits this long for its image score (a Celery worker, or the local model process,
# whose first call loads torch and the model), then answers 503 with Retry-After.
GEOGAME_PRIVACY_SCORE_TIMEOUT_S = env_float("GEOGAME_PRIVACY_SCORE_TIMEOUT_S", 60.0)
# Each daphne process keeps its latest per-round image renderings (geogame.game.round_images) in memory,
# so a reload is not encoded again; bounded by this many MB.
GEOGAME_ROUND_IMAGE_CACHE_MB = env_int("GEOGAME_ROUND_IMAGE_CACHE_MB", 64)

# Machine players (inference/). Artefacts and the feature cache live under DATA_DIR.
# CLIP zero-shot player: an open_clip model name and its weights (a local file or a hub id).
# Unset weights: the player is listed as unavailable, never played.
GEOGAME_CLIP_MODEL = env_str("GEOGAME_CLIP_MODEL", "ViT-B-32")
GEOGAME_CLIP_PRETRAINED = env_str("GEOGAME_CLIP_PRETRAINED")
# The retrieval player (inference/retrieval.py): how many nearest training places it weighs, and the
# softmax temperature over their cosine similarities.
GEOGAME_RETRIEVAL_K = env_int("GEOGAME_RETRIEVAL_K", 10)
GEOGAME_RETRIEVAL_TEMPERATURE = env_float("GEOGAME_RETRIEVAL_TEMPERATURE", 0.05)
# Micro-batching of machine guesses in a worker: at most this many rounds per forward
# pass, waiting at most this long for company (only while more rounds are being prepared).
# Unset: by the worker's device (inference.batching.default_batch_max): none on the CPU, where
# it does not pay (bench/README.md, machine_latency.py), 16 on CUDA.
GEOGAME_BATCH_MAX = env_int("GEOGAME_BATCH_MAX", None)
if GEOGAME_BATCH_MAX is not None and GEOGAME_BATCH_MAX < 1:
    raise ImproperlyConfigured(f"GEOGAME_BATCH_MAX must be 1 or more, got {GEOGAME_BATCH_MAX!r}")
GEOGAME_BATCH_WAIT_MS = env_int("GEOGAME_BATCH_WAIT_MS", 10)
# A player's batcher idle this long stops its thread and lets go of the model (built again on
# the next guess). A machine guess waits at most this long for its batch's forward pass, then
# fails with a timeout error (keep it under GEOGAME_TASK_SOFT_TIME_LIMIT_S).
GEOGAME_BATCHER_IDLE_S = env_float("GEOGAME_BATCHER_IDLE_S", 600.0)
GEOGAME_MACHINE_GUESS_TIMEOUT_S = env_float("GEOGAME_MACHINE_GUESS_TIMEOUT_S", 30.0)
# A training run (inference.training) writes a heartbeat every tenth of this; one silent for this
# long is taken for dead (its worker died): the staff page marks it failed, and a redelivered task
# takes it over. Shorter than GEOGAME_TASK_VISIBILITY_TIMEOUT_S, so the copy Redis redelivers after
# a crash early in a run finds it dead and runs it again.
GEOGAME_TRAINING_STALE_S = env_float("GEOGAME_TRAINING_STALE_S", 120.0)
for _name in ("GEOGAME_BATCHER_IDLE_S", "GEOGAME_MACHINE_GUESS_TIMEOUT_S", "GEOGAME_TRAINING_STALE_S"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be a positive number of seconds, got {globals()[_name]!r}")
# glibc malloc settings for Celery workers that keep the model's activation memory between
# forward passes (inference.runtime.tune_allocator); off: glibc's defaults.
GEOGAME_MALLOC_TUNING = env_bool("GEOGAME_MALLOC_TUNING", True)

# Building maps from Street View or Mapillary (geogame.maps.builder, manage.py build_map). The key and
# token are only ever sent to their API: never stored, logged or shown.
GOOGLE_STREETVIEW_KEY = env_str("GEOGAME_STREETVIEW_KEY")
MAPILLARY_TOKEN = env_str("GEOGAME_MAPILLARY_TOKEN")
# Base URLs, overridable so tests can point them at a fake server on loopback.
GEOGAME_STREETVIEW_URL = env_str("GEOGAME_STREETVIEW_URL", "https://maps.googleapis.com/maps/api/streetview")
GEOGAME_MAPILLARY_URL = env_str("GEOGAME_MAPILLARY_URL", "https://graph.mapillary.com")
# Requests per second to each provider, and the most requests one build may make in all
# (Street View image requests are billed; raise it per build with --max-requests).
GEOGAME_STREETVIEW_RPS = env_float("GEOGAME_STREETVIEW_RPS", 10.0)
GEOGAME_MAPILLARY_RPS = env_float("GEOGAME_MAPILLARY_RPS", 5.0)
GEOGAME_BUILD_MAX_REQUESTS = env_int("GEOGAME_BUILD_MAX_REQUESTS", 5000)
# Per request: seconds to wait for an answer, retries on 429/5xx/timeouts, first backoff (doubling).
GEOGAME_BUILD_TIMEOUT_S = env_float("GEOGAME_BUILD_TIMEOUT_S", 20.0)
GEOGAME_BUILD_RETRIES = env_int("GEOGAME_BUILD_RETRIES", 4)
GEOGAME_BUILD_BACKOFF_S = env_float("GEOGAME_BUILD_BACKOFF_S", 1.0)
# A build task stops (resumable) after this long; a running build silent for longer than the
# stale time is taken to be dead, and may be resumed by another worker or command.
GEOGAME_BUILD_SOFT_TIME_LIMIT_S = env_int("GEOGAME_BUILD_SOFT_TIME_LIMIT_S", 6 * 3600)
GEOGAME_BUILD_STALE_S = env_int("GEOGAME_BUILD_STALE_S", 600)

# Duels (geogame/duels/rules.py holds the fixed rules). Seconds unless named otherwise.
GEOGAME_DUEL_ROUND_S = env_int("GEOGAME_DUEL_ROUND_S", 60)  # a round's clock, before anyone guesses
GEOGAME_DUEL_DROP_S = env_float("GEOGAME_DUEL_DROP_S", 15.0)  # what is left to the other side after a guess
GEOGAME_DUEL_MAX_ROUNDS = env_int("GEOGAME_DUEL_MAX_ROUNDS", 15)  # fewer on maps with fewer locations
GEOGAME_DUEL_START_S = env_float("GEOGAME_DUEL_START_S", 3.0)  # from "everyone is seated" to round 1
# How long a round's result shows before the next round starts.
GEOGAME_DUEL_INTERMISSION_S = env_float("GEOGAME_DUEL_INTERMISSION_S", 5.0)
# A machine "thinks" a time drawn per round (geogame.game.rules.machine_think_s): one of the human answer
# times on the map once it has GEOGAME_MACHINE_THINK_MIN_SAMPLES of them, else uniform between these.
# In a duel its guess is announced then; in a game it is the guess's time_taken_s.
GEOGAME_MACHINE_THINK_MIN_S = env_float("GEOGAME_MACHINE_THINK_MIN_S", 8.0)
GEOGAME_MACHINE_THINK_MAX_S = env_float("GEOGAME_MACHINE_THINK_MAX_S", 30.0)
GEOGAME_MACHINE_THINK_MIN_SAMPLES = env_int("GEOGAME_MACHINE_THINK_MIN_SAMPLES", 20)
# Deprecated: a fixed think time in place of the draw (fast test stacks set it); empty: draw.
GEOGAME_MACHINE_THINK_S = env_float("GEOGAME_MACHINE_THINK_S", None)
# A duel's machine never announces so early that the human is left less than this in the round.
GEOGAME_MACHINE_MIN_HUMAN_S = env_float("GEOGAME_MACHINE_MIN_HUMAN_S", 20.0)
# Every Celery worker advances overdue duels this often (duel_services.duels_advance_overdue), so a
# duel goes on when its timer tasks are lost (a Redis restart drops a worker's ETA tasks); 0: never.
GEOGAME_DUEL_SWEEP_S = env_float("GEOGAME_DUEL_SWEEP_S", 1.0)

# Bots (geogame/bots, docs/bot-api.md). A bot answers by the round's deadline, or in a round without
# a timer within GEOGAME_BOT_UNTIMED_ANSWER_S; after GEOGAME_BOT_MISSES_MAX misses in a row it is
# unavailable (0: never) until it polls again. A long poll waits at most GEOGAME_BOT_POLL_MAX_S and
# looks at the database every GEOGAME_BOT_POLL_RECHECK_S besides being woken by a new round.
GEOGAME_BOT_UNTIMED_ANSWER_S = env_float("GEOGAME_BOT_UNTIMED_ANSWER_S", 60.0)
GEOGAME_BOT_MISSES_MAX = env_int("GEOGAME_BOT_MISSES_MAX", 3)
GEOGAME_BOT_POLL_MAX_S = env_float("GEOGAME_BOT_POLL_MAX_S", 25.0)
GEOGAME_BOT_POLL_RECHECK_S = env_float("GEOGAME_BOT_POLL_RECHECK_S", 2.0)
GEOGAME_BOT_MAX_BODY_BYTES = env_int("GEOGAME_BOT_MAX_BODY_BYTES", 65536)
# `manage.py benchmark --players bot:NAME` offers the bot each test location as a round of this length.
GEOGAME_BOT_BENCHMARK_ROUND_S = env_int("GEOGAME_BOT_BENCHMARK_ROUND_S", 60)
# Webhooks (geogame/bots/webhooks.py): tries per round, each call's timeout, and the base of the URLs
# in the offer they send (no request to take it from).
GEOGAME_BOT_WEBHOOK_ATTEMPTS = env_int("GEOGAME_BOT_WEBHOOK_ATTEMPTS", 3)
GEOGAME_BOT_WEBHOOK_TIMEOUT_S = env_float("GEOGAME_BOT_WEBHOOK_TIMEOUT_S", 5.0)
GEOGAME_PUBLIC_URL = env_str("GEOGAME_PUBLIC_URL", "http://127.0.0.1:8000")

# Per client and scope (geogame/common/ratelimit.py). A player guesses once a round; uploads and study
# answers are heavier and anonymous.
GEOGAME_RATE_LIMITS = {
    "guess": env_rate("GEOGAME_RATE_LIMIT_GUESS", "60/60"),
    "upload": env_rate("GEOGAME_RATE_LIMIT_UPLOAD", "20/60"),
    "study": env_rate("GEOGAME_RATE_LIMIT_STUDY", "120/60"),
    # New games and duels (ratelimit.creation_hit), per address and per browser session. A game takes
    # minutes to play; the address budget leaves room for a class behind one NAT, and stops a script
    # that makes throwaway sessions to learn the photos (issue 12: 30 games in 15 s).
    "game": env_rate("GEOGAME_RATE_LIMIT_GAME", "40/600"),
    "game_session": env_rate("GEOGAME_RATE_LIMIT_GAME_SESSION", "15/600"),
    "duel": env_rate("GEOGAME_RATE_LIMIT_DUEL", "20/600"),
    "duel_session": env_rate("GEOGAME_RATE_LIMIT_DUEL_SESSION", "10/600"),
    # Accounts and challenge links (geogame/accounts, geogame/challenges): per address, and new
    # accounts and challenges per browser session too (ratelimit.creation_hit).
    "signup": env_rate("GEOGAME_RATE_LIMIT_SIGNUP", "10/3600"),
    "signup_session": env_rate("GEOGAME_RATE_LIMIT_SIGNUP_SESSION", "3/3600"),
    "login": env_rate("GEOGAME_RATE_LIMIT_LOGIN", "30/600"),
    "password_reset": env_rate("GEOGAME_RATE_LIMIT_PASSWORD_RESET", "5/3600"),
    "challenge": env_rate("GEOGAME_RATE_LIMIT_CHALLENGE", "30/600"),
    "challenge_session": env_rate("GEOGAME_RATE_LIMIT_CHALLENGE_SESSION", "10/600"),
    "daily": env_rate("GEOGAME_RATE_LIMIT_DAILY", "30/600"),
    # Joins of the ranked queue (geogame/duels/queue_consumer.py), per address and per browser session.
    "queue": env_rate("GEOGAME_RATE_LIMIT_QUEUE", "300/600"),
    "queue_session": env_rate("GEOGAME_RATE_LIMIT_QUEUE_SESSION", "30/600"),
    # The bot API (geogame/bots), per bot token and per address (every request, a bad token's too).
    "bot": env_rate("GEOGAME_RATE_LIMIT_BOT", "600/60"),
    "bot_address": env_rate("GEOGAME_RATE_LIMIT_BOT_ADDRESS", "6000/60"),
}
# Any message on a duel socket (sync, guess, garbage): bursts of N, N per S seconds on average,
# per socket, and 10 times that per address in each daphne process (geogame/duels/consumers.py).
GEOGAME_DUEL_MESSAGE_RATE = env_rate("GEOGAME_DUEL_MESSAGE_RATE", "20/5")

# Ranked (geogame/ranked): Glicko-2's system constant tau, and the length of a rating period: a
# rating's deviation widens by one period's volatility for each period without a game.
GEOGAME_RANKED_TAU = env_float("GEOGAME_RANKED_TAU", 0.5)
GEOGAME_RANKED_PERIOD_S = env_float("GEOGAME_RANKED_PERIOD_S", 7 * 24 * 3600.0)
if GEOGAME_RANKED_TAU <= 0 or GEOGAME_RANKED_PERIOD_S <= 0:
    raise ImproperlyConfigured("GEOGAME_RANKED_TAU and GEOGAME_RANKED_PERIOD_S must be greater than 0")
# The ranked queue (geogame/duels/queue.py): a player nobody in reach has paired within
# GEOGAME_RANKED_QUEUE_MACHINE_S plays the machine player whose rating is closest; each daphne
# process with a waiting player looks for pairs every GEOGAME_RANKED_QUEUE_TICK_S (and at each join).
GEOGAME_RANKED_QUEUE_MACHINE_S = env_float("GEOGAME_RANKED_QUEUE_MACHINE_S", 20.0)
GEOGAME_RANKED_QUEUE_TICK_S = env_float("GEOGAME_RANKED_QUEUE_TICK_S", 0.25)
if GEOGAME_RANKED_QUEUE_MACHINE_S < 0 or GEOGAME_RANKED_QUEUE_TICK_S <= 0:
    raise ImproperlyConfigured(
        "GEOGAME_RANKED_QUEUE_MACHINE_S must be 0 or more, GEOGAME_RANKED_QUEUE_TICK_S more than 0"
    )

# Studies: the key of the hash under which a participant's recruitment-platform id is kept
# (geogame/studies/rules.py: platform_id_hash). Unset: derived from SECRET_KEY. Changing it lets the
# same person take a running study again, so keep it for a study's lifetime.
GEOGAME_STUDY_ID_PEPPER = (
    env_str("GEOGAME_STUDY_ID_PEPPER")
    or hashlib.sha256(f"geogame.studies.platform-id:{SECRET_KEY}".encode()).hexdigest()
)

# Retention (players/retention.py): abandoned anonymous players (no finished game, no study, nothing
# done and no live session for this many days) and kept privacy checks older than theirs are deleted,
# with expired sessions, every GEOGAME_PURGE_EVERY_H hours (0: only by `manage.py purge_anonymous`).
GEOGAME_ANONYMOUS_RETENTION_DAYS = env_int("GEOGAME_ANONYMOUS_RETENTION_DAYS", 30)
GEOGAME_PRIVACY_RETENTION_DAYS = env_int("GEOGAME_PRIVACY_RETENTION_DAYS", 30)
GEOGAME_PURGE_EVERY_H = env_float("GEOGAME_PURGE_EVERY_H", 24.0)

# /healthz: how long to wait for a Celery worker on this deployment's queue to answer.
GEOGAME_HEALTH_WORKER_TIMEOUT_S = env_float("GEOGAME_HEALTH_WORKER_TIMEOUT_S", 1.0)
# Sent as the X-Health-Token header, it shows each check's detail (staff see it too); unset: only staff.
GEOGAME_HEALTH_TOKEN = env_str("GEOGAME_HEALTH_TOKEN")

# Logs: "text" (human-readable) or "json" (one JSON object per line; geogame/common/logs.py).
GEOGAME_LOG_FORMAT = env_str("GEOGAME_LOG_FORMAT", "text")
if GEOGAME_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"GEOGAME_LOG_FORMAT must be text or json, got {GEOGAME_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Control characters in a message (a request path's %0a, ANSI escapes) are escaped: one line each.
        "text": {
            "class": "geogame.common.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {"()": "geogame.common.logs.JsonFormatter"},
    },
    # A study participant's resume token in a logged path (django.request's "Not Found: ...") is
    # written as "[token]" (geogame.common.logs.SecretPathFilter).
    "filters": {"secret_paths": {"()": "geogame.common.logs.SecretPathFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": GEOGAME_LOG_FORMAT,
            "filters": ["secret_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("GEOGAME_LOG_LEVEL", "INFO")},
}
