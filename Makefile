# Two commands do everything on a fresh machine:
#   make demo   installs what is missing, then runs an example agent offline
#   make test   installs what is missing (Docker engine and sandbox image included), then runs the tests
# Both install `.[all,dev]` at the versions constraints.txt pins (scripts/setup_python.sh).

VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint serve docker-engine sandbox-image postgres

$(VENV)/.installed: pyproject.toml constraints.txt scripts/setup_python.sh
	bash scripts/setup_python.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

docker-engine:
	bash scripts/ensure_docker.sh

# PostgreSQL's server programs, for the tests' throwaway clusters (tests/postgres_server.py).
postgres:
	bash scripts/ensure_postgres.sh

sandbox-image: setup docker-engine
	$(BIN)/agentlab sandbox build --offline

demo: setup
	bash scripts/demo.sh $(VENV)

test: setup sandbox-image postgres
	bash scripts/ensure_eval_deps.sh $(VENV)
	$(BIN)/python -m pytest

# The agent on LangGraph's development server (in memory), on 127.0.0.1:2024.
serve: setup
	$(BIN)/agentlab serve

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy
