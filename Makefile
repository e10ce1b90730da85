# Two commands on a fresh machine:  `make play`  serves the game,  `make test`  runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` runs the database-heavy tests a second time on PostgreSQL when one answers here
# (pytest-django creates and drops its own test database on that server); the import of the
# shared sample's 65 photos is image work, not database work, and runs once.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/geogame
POSTGRES_TESTS := tests/test_game_api.py tests/test_anticheat.py tests/test_import.py \
	tests/test_duel_services.py tests/test_ranked.py tests/test_build_map.py tests/test_celery_worker.py \
	tests/test_health.py tests/test_ratelimit.py tests/test_study.py tests/test_fuzz.py \
	tests/test_bad_input.py tests/test_location_pools.py tests/test_retention.py tests/test_login_throttle.py \
	tests/test_city_centres.py tests/test_migrate_layout.py tests/test_training_claim.py tests/test_bots.py \
	tests/test_accounts.py tests/test_challenges.py tests/test_daily.py tests/test_leaderboards.py \
	tests/test_study_recruitment.py tests/test_study_defects.py tests/test_study_design.py tests/test_study_payment.py \
	tests/test_streaks.py \
	-k "not shared_sample"

.PHONY: setup play test lint browser stack

setup: $(VENV)/.installed node_modules/.installed

# requirements.txt is requirements/dev.txt, which includes worker.txt, which includes web.txt.
$(VENV)/.installed: requirements.txt requirements/web.txt requirements/worker.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium and ChromeDriver for the browser tests (they skip, saying so, without them).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "note: install chromium and chromium-driver (apt) to run the browser tests"; fi

play: setup
	$(BIN)/python manage.py play --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
	@if $(BIN)/python -c "import sys; from tools.stack import postgres_answers; \
		sys.exit(not postgres_answers('$(TEST_DATABASE_URL)'))"; then \
		echo "== the database tests again, on PostgreSQL ($(TEST_DATABASE_URL))"; \
		DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/python -m pytest $(POSTGRES_TESTS); \
	else \
		echo "== PostgreSQL tests SKIPPED: nothing answers at $(TEST_DATABASE_URL) (set TEST_DATABASE_URL)"; \
	fi

# The production topology without Docker: 2 daphne (PORT, PORT+1) and 2 Celery workers over
# PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); Ctrl-C stops it all (tools/stack.py).
stack: setup
	$(BIN)/python -m tools.stack --web 2 --workers 2 --host $(HOST) --port $(PORT)
