# streamfleet: `make demo` and `make test` build .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint proto bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/streamfleet demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. \
		--pyi_out=. proto/streamfleet/v1/fleet.proto

# Each benchmark prints one JSON line (eviction: one per cache size); the other modules in
# bench/ are helpers the benchmarks import.
BENCHES := steering eviction fill_plan prefill appliance_vs_nginx appliance_restart upload ingest search load

bench: $(STAMP)
	@for b in $(BENCHES); do \
		if [ -f bench/$$b.py ]; then echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache
