# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint format docs clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# The CPU build of torch first: any other torch requirement pulls a multi-GB CUDA build.
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dispatchlab cases list
	$(BIN)/dispatchlab pf ieee123
	$(BIN)/dispatchlab solve pglib/case57_ieee --problem dcopf --rows 10
	$(BIN)/dispatchlab solve pglib/case57_ieee --problem sced --rows 10

lint: $(STAMP)
	$(BIN)/ruff check dispatchlab tests benchmarks tools
	$(BIN)/ruff format --check dispatchlab tests benchmarks tools

format: $(STAMP)
	$(BIN)/ruff check --fix dispatchlab tests benchmarks tools
	$(BIN)/ruff format dispatchlab tests benchmarks tools

test: lint
	$(BIN)/pytest -q

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
