# make demo  — set up, then ingest the sample documents twice (the second run writes nothing)
# make test  — set up, then run the whole test suite
# make bench — set up, then run the benchmark figures and rewrite docs/benchmarks.md
#              (BENCH_ARGS="--preset full", "--only 1,3", "--with-setup"; see bench/README.md)
# make bench-report — rewrite docs/benchmarks.md from the saved results, running nothing
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.verirag-setup
BENCH_STAMP := $(VENV)/.verirag-bench

.PHONY: setup demo test bench bench-report clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# the benchmarks also need the stock LlamaIndex pipeline they compare against (the "bench" extra)
$(BENCH_STAMP): $(STAMP)
	VENV=$(VENV) EXTRAS=test,bench bash scripts/setup.sh
	touch $@

bench: $(BENCH_STAMP)
	$(PY) -m bench.harness $(BENCH_ARGS)

bench-report: setup
	$(PY) -m bench.harness --report-only

clean:
	rm -rf $(VENV) .verirag .pytest_cache
