# The README's two commands: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=120

.PHONY: lab test test-fast notebooks student-notebooks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "mailcourse needs Python 3.11 or newer; set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# No "would you like news?" pop-up in class (and no request to the Internet for it).
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp tools/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

## make lab: install (first time) and open JupyterLab on the first lesson
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/00_start_here.ipynb

## make test: every test (unit, protocol, real clients, notebooks under strict nbval, browser)
test: $(STAMP)
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest $(NBVAL) notebooks

## make test-fast: the tests without notebooks and browser
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not browser"

## make notebooks: re-execute every lesson and store its outputs (then check with make test)
notebooks: $(STAMP)
	$(BIN)/python tools/build_notebooks.py

## make student-notebooks: the lessons without solutions, in student/
student-notebooks: $(STAMP)
	$(BIN)/python -m mailcourse student-notebooks student

clean:
	rm -rf $(VENV) student test-output
