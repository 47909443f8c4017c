# make demo  — set up, then ingest the sample documents twice (the second run writes nothing)
# make test  — set up, then run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.verirag-setup

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .verirag .pytest_cache
