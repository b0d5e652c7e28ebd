# Two commands do everything on a fresh machine:
#   make demo   installs what is missing, then runs an example agent offline
#   make test   installs what is missing (Docker engine and sandbox image included), then runs the tests

VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint docker-engine sandbox-image

$(VENV)/.installed: pyproject.toml constraints.txt scripts/setup_python.sh
	bash scripts/setup_python.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

docker-engine:
	bash scripts/ensure_docker.sh

sandbox-image: setup docker-engine
	$(BIN)/agentlab sandbox build --offline

demo: setup
	bash scripts/demo.sh $(VENV)

test: setup sandbox-image
	bash scripts/ensure_eval_deps.sh $(VENV)
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy
