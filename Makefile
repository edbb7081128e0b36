# The README's two commands: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=120

.PHONY: lab instructor student test test-fast notebooks clean

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

# The student edition (student/) is committed, for hubs and Binder; it is rebuilt here when a
# lesson of the instructor edition (notebooks/) or the builder is newer than it, or it is missing.
LESSONS := $(wildcard notebooks/[0-9]*.ipynb)
STUDENT_STAMP := student/.built

$(STUDENT_STAMP): $(STAMP) $(LESSONS) mailcourse/cli/student.py
	$(BIN)/python -m mailcourse student-notebooks student
	touch $(STUDENT_STAMP)

# The whole repository is JupyterLab's root (as on Binder or a hub), so that a lesson's links to
# README.md and to the other edition work; the first lesson opens.
ROOT_DIR := --ServerApp.root_dir=$(CURDIR)

lab: $(STUDENT_STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(ROOT_DIR) student/00_start_here.ipynb

## make instructor: the instructor edition (solutions in the exercise cells, answers in the quizzes)
instructor: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(ROOT_DIR) notebooks/00_start_here.ipynb

## make student: rebuild the student edition in student/ from notebooks/ (commit the result)
student: $(STUDENT_STAMP)

## make test: every test (unit, protocol, real clients, both editions under strict nbval, browser)
test: $(STAMP)
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest $(NBVAL) notebooks student

## make test-fast: the tests without notebooks and browser
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not browser"

## make notebooks: re-execute every lesson, store its outputs, rebuild the student edition
notebooks: $(STAMP)
	$(BIN)/python tools/build_notebooks.py
	$(BIN)/python -m mailcourse student-notebooks student
	touch $(STUDENT_STAMP)

clean:
	rm -rf $(VENV) $(STUDENT_STAMP) test-output
