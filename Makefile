# tradeforge — two commands from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
UV    := $(VENV)/bin/uv
# Python 3.12 (pyenv's shim may not expose it globally, so fall back to the pyenv install).
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
	  $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::SyntaxWarning

.PHONY: venv demo test lint format bench clean up down status docs

$(PY):
	@test -n "$(PYTHON312)" || { echo "error: Python 3.12 not found (tried python3.12 and ~/.pyenv/versions/3.12*)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.8

# Installs exactly what uv.lock pins (dev group included), and the project itself in editable mode.
# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on the CI machines) every command would
# otherwise recompile each imported library from source (1.5 s of a 5 s `tradeforge validate`).
venv: $(PY)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PY) --quiet --compile-bytecode

# One seed per agent kind keeps the demo under 3 minutes on 2 cores; the defaults train seeds 0-2
# and their ensembles (2.5-4 min here, with the machine's load).
demo: venv
	$(VENV)/bin/tradeforge train --seeds 0

# The suite in two pytest-xdist workers, whole modules each (module-scoped servers start once):
# its trainings, server starts and subprocess waits overlap on the 2 cores CI has. Modules are
# handed out in collection order (slow ones first, tests/conftest.py), not xdist's default of
# most tests first, which would leave the one-test trainings for the end. TEST_WORKERS=0 runs
# it in one process.
TEST_WORKERS ?= 2
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The documentation site into site/; strict: a broken link or a generator's error fails the
# build. Its reference pages are generated from the code (docs/_hooks/reference.py). The test
# suite builds it too (tests/test_docs.py), so CI checks it on every run.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The local stack on 127.0.0.1 (ops/stack.py): Prefect server + UI, a process worker on the
# tradeforge-process pool, SeaweedFS S3 with a bucket, deployments from prefect.yaml.
# Idempotent; state, pids and logs under .tradeforge/stack/. `make demo` needs none of it.
# `make up DB=postgres`: the Prefect server on the stack's own PostgreSQL (Debian's postgresql;
# for many concurrent runs) instead of SQLite; later `make up`s keep the stack's choice.
up: venv
	$(PY) ops/stack.py up $(if $(DB),--db $(DB))

down:
	@if [ -x $(PY) ]; then $(PY) ops/stack.py down; fi

status:
	@$(PY) ops/stack.py status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
