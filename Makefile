# Two commands on a fresh machine with Python 3.11+:
#   make demo   set up .venv with trialkit and all its extras, generate the demo data for both trials, run the main job
#   make test   set up .venv with all extras + test tools (and Chromium for the browser tests), run the whole suite
# and, while working:
#   make test-fast   the tests in tests/ except those that start a Jupyter kernel, drive a browser or are slow
#                    (the package's doctests run in `make test`)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-all
TSTAMP := $(VENV)/.installed-test
FAST   := -m "not kernel and not browser and not slow"

.PHONY: demo test test-fast venv test-venv browser lint bench clean strip-notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the core library and every extra: [notebooks] (JupyterLab, ipywidgets), [reports] (papermill...), [excel]
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

$(TSTAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[all,test]"
	touch $(TSTAMP)

venv: $(STAMP)

test-venv: $(TSTAMP)

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

# the whole suite: tests, doctests of the package (numpydoc Examples), kernel, browser and slow tests
test: test-venv browser
	$(BIN)/python -m pytest -q

# the quick loop (2 xdist workers): tests/ only (doctests are in `make test`), no Jupyter kernel, no browser,
# nothing marked slow. Bytecode caching is switched back on where an environment turns it off: pytest keeps
# the test modules it rewrites for its assertions there (about 4 s of collection per worker otherwise)
test-fast: test-venv
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 2 $(FAST) tests

lint: test-venv
	$(BIN)/ruff check .

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

strip-notebooks: venv
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache
