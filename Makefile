# Two commands on a fresh machine with Python 3.11+:
#   make demo   set up .venv, install trialkit, generate the demo data for both trials, run the main job
#   make test   set up .venv with test extras (and Chromium for the browser tests), run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv browser lint bench clean strip-notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/trialkit demo --out data/demo
	$(BIN)/trialkit reports data/demo/b1931036 --audience site --sites all --out reports/b1931036/site --jobs 2
	$(BIN)/trialkit reports data/demo/b1931036 --audience study --out reports/b1931036/study

# Browser tests drive Debian's Chromium through playwright (never `playwright install`).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium missing: run 'sudo apt-get install -y chromium' (browser tests will be skipped)"; fi; \
	fi

test: venv browser
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

strip-notebooks: venv
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache
