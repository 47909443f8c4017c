# make demo  — set up, then ingest the sample documents twice (the second run writes nothing), ask a
#              question, and print the web page's URL (make demo SERVE=1 also starts the server)
# make test  — set up, then run the whole test suite
# make bench — set up, then run the benchmark figures and rewrite docs/benchmarks.md
#              (BENCH_ARGS="--preset full", "--only 1,3", "--with-setup"; see bench/README.md)
# make bench-report — rewrite docs/benchmarks.md from the saved results, running nothing
# make entailment-model — rebuild models/verirag-nli-minilm-l6 from ../shared/datasets
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.verirag-setup
BENCH_STAMP := $(VENV)/.verirag-bench

.PHONY: setup demo test bench bench-report entailment-model clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/apt_for_tests.sh scripts/install_browser.sh scripts/install_postgres.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

# SERVE=1 ends by serving the web page on loopback (PORT=8000) instead of printing how to start it
demo: setup
	SERVE=$(SERVE) PORT=$(PORT) bash scripts/demo.sh

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

# Rebuild the verifier's entailment model from ../shared/datasets (training/entailment/README.md).
# TRAIN_MINUTES bounds the training step (the shipped model: 100; the CPU recipe must stay under 2 hours).
TRAIN_MINUTES ?= 100
entailment-model: setup
	$(PY) -m training.entailment.build_data --datasets ../shared/datasets
	$(PY) -m training.entailment.train --minutes $(TRAIN_MINUTES)
	$(PY) -m training.entailment.export
	$(PY) -m training.entailment.calibrate

clean:
	rm -rf $(VENV) .verirag .pytest_cache
