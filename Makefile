# The two commands of the README's quick start, `make run` and `make test`. Both create .venv when it is missing
# and (re)install the project whenever pyproject.toml changes. `make install` is for a service: .venv with the
# runtime dependencies only (no test tools), and nothing started.
PYTHON ?= python3
# Termux: VENV_FLAGS=--system-site-packages lets the venv use Termux's own PyAV and numpy (pkg python-av and
# python-numpy) instead of building them from source.
VENV_FLAGS ?=
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e .

run: $(STAMP)
	$(VENV)/bin/python daemon.py run

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/segmented_vs_single.py

clean:
	rm -rf $(VENV) build *.egg-info
