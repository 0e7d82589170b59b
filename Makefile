# xxci: `make demo` runs the example pipeline end to end; `make test` runs every check.
# Both do all set-up themselves (virtualenv, Docker engine, local test image, for the
# browser tests Debian's chromium, and for the PostgreSQL tests Debian's postgresql:
# the tests start a throwaway cluster of their own, no system service).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup docker browser postgres protos protos-check lint typecheck unit test demo bench bench-tools chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

docker: $(STAMP)
	scripts/ensure-docker.sh
	scripts/build-test-image.sh

browser:
	scripts/ensure-chromium.sh

postgres:
	scripts/ensure-postgres.sh

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

protos-check: $(STAMP)
	$(BIN)/python scripts/gen_protos.py --check

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: $(STAMP) docker browser postgres protos-check lint typecheck
	XXCI_REQUIRE_POSTGRES=1 $(BIN)/pytest -q

demo: $(STAMP) docker
	$(BIN)/xxci check
	$(BIN)/xxci dry-run --pipeline example
	$(BIN)/xxci run --local --pipeline example

# The chaos test's long form: rounds of 20 pipelines while processes are killed.
chaos: $(STAMP) docker
	$(BIN)/python -m tests.chaos

bench-tools: docker
	scripts/ensure-bench-tools.sh

bench: $(STAMP) bench-tools postgres
	$(BIN)/python benchmarks/compare_runners.py
	$(BIN)/python benchmarks/engine_throughput.py
	$(BIN)/python benchmarks/event_store_append.py
	$(BIN)/python benchmarks/report_queries.py
	$(BIN)/python benchmarks/shared_store.py
	$(BIN)/python benchmarks/startup_history.py
	$(BIN)/python benchmarks/web_view.py
	$(BIN)/python benchmarks/hostile_pipeline.py
	$(BIN)/python benchmarks/artifact_memory.py
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/worker_admission.py
	$(BIN)/python benchmarks/job_environment.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benchmarks/gitlab-ci-local/node_modules
