# The two commands of the README's quick start, `make run` and `make test`. Both create .venv when it is missing
# and (re)install the project whenever pyproject.toml changes. `make install` is for a service: .venv with the
# runtime dependencies only (no test tools), and nothing started.
PYTHON ?= python3
# Termux: VENV_FLAGS=--system-site-packages lets the venv use Termux's own PyAV and numpy (pkg python-av and
# python-numpy) instead of building them from source.
VENV_FLAGS ?=
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: install run test service-tools lint bench clean

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

test: $(STAMP) service-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

# The unit-file tests run Debian's systemd-analyze. As root on Debian (CI), fetch it when it is missing; elsewhere
# those tests skip and say how to get it.
service-tools:
	@command -v systemd-analyze >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }

bench: $(STAMP)
	$(VENV)/bin/python bench/segmented_vs_single.py

clean:
	rm -rf $(VENV) build *.egg-info
