VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: test demo bench docs clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs only the bot and moto (the `demo` extra), not the development tools.
$(DEMO_STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/ruff format --check bot tests bench
	$(VENV)/bin/mypy --strict bot
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/cfn-lint deploy/cloudformation.yaml deploy/cloudformation-role.yaml
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/triagebot check playbooks/
	$(VENV)/bin/pytest -q --durations=20

demo: $(DEMO_STAMP)
	$(VENV)/bin/triagebot demo

docs: $(STAMP)
	$(PY) -m bot.docs > docs/playbooks.md

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ~/.cache/triagebot-tests
