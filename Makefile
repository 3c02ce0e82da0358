VENV ?= .venv
PY := $(VENV)/bin/python
PROTOS := $(wildcard protos/gateway/wire/*.proto)

.PHONY: venv demo test lint typecheck proto bench soak clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/gateway demo

test: lint
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

proto: venv
	PATH=$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTOS)

bench: venv
	$(PY) -m benchmarks

# Crash safety at length: SIGKILL under load, 200 times per store (the suite does 20).
soak: venv
	AEDGW_CRASH_KILLS=$${AEDGW_CRASH_KILLS:-200} $(PY) -m pytest -q -s tests/e2e/test_crash.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
