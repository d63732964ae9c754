PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run demo test test-servers bench lint clean screenshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/tunedeck --demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# opt-in: real OpenAI-compatible servers on CPU (the llama.cpp server, built once into
# $${TUNEDECK_SERVER_CACHE:-~/.cache/tunedeck-servers}, tens of minutes on 2 cores)
test-servers: $(STAMP)
	PYTHON=$(PYTHON) tests/servers/setup.sh
	TUNEDECK_TEST_SERVERS=1 $(BIN)/python -m pytest -q -s tests/servers

bench: $(STAMP)
	$(BIN)/python tests/bench/run_all.py

screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
