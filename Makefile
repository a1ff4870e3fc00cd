# Flare's two everyday commands are `make run` and `make test`; see README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SHELL := /bin/bash

.PHONY: run test stop lint clean lock

# The virtualenv is rebuilt whenever the pinned dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[flare] installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	@deploy/local/run.sh

# pytest's exit code 5 means it collected no tests: that is a failure, not a pass.
test: $(VENV)/.installed
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "[flare] FAILED: pytest collected no tests"; exit 1; fi; \
	exit $$status

stop:
	@deploy/local/down.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Stops everything and removes local state: jars, data directories, logs, the virtualenv.
clean:
	-@deploy/local/down.sh
	-@deploy/local/postgres.sh clean
	rm -rf .local $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Re-pins constraints.txt after a change to the dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ echo "# Every Python package a Flare run needs, pinned. Regenerate after changing pyproject.toml:"; \
	  echo "#   make lock"; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv
