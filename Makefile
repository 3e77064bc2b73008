# Two commands on a fresh machine: `make run` (the daemon on the default topic) and
# `make test`. Each installs what it needs into ./.venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean egg

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,web]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/topicwatch daemon

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 3 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy topicwatch scheduler.py bench

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,web,bench]'
	$(BIN)/python -m bench

# The project as a Scrapyd egg (dist/topicwatch.egg) for `scrapyd-deploy --egg`: built in a
# temporary copy, since scrapyd-deploy writes a setup.py and build/ where it builds.
egg: $(STAMP)
	tmp=$$(mktemp -d) && cp -rL pyproject.toml scrapy.cfg README.md topicwatch "$$tmp"/ && \
	find "$$tmp" -name __pycache__ -prune -exec rm -rf {} + && \
	(cd "$$tmp" && "$(CURDIR)/$(BIN)/scrapyd-deploy" --build-egg="$$tmp/topicwatch.egg" >/dev/null) && \
	mkdir -p dist && cp "$$tmp/topicwatch.egg" dist/topicwatch.egg && rm -rf "$$tmp"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
