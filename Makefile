# Two commands on a fresh machine:  `make play`  serves the game,  `make test`  runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup play test lint browser

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt
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

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
