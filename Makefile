# The two commands of the README:   make run   and   make test
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
export SOLCX_BINARY_PATH := $(ROOT)/.solcx
export APE_DATA_FOLDER := $(ROOT)/.ape
export PATH := $(VENV)/bin:$(PATH)

.PHONY: setup run lint test bench clean artifacts

setup:
	@bash scripts/setup.sh

## The main job: a local network of 10 operators doing 30 tasks over the example AVSs, then a summary.
run: setup
	othentic devnet $(DEVNET_ARGS)

## Formatting, lint rules and types of the package (tools pinned in requirements.lock).
lint: setup
	ruff format --check othentic_offchain
	ruff check othentic_offchain
	mypy othentic_offchain

## Lint, then the whole test suite on anvil (pytest exits non-zero, 5 included, when nothing ran).
test: setup lint
	ape test tests $(PYTEST_ARGS)

## After changing a contract: refresh the ABIs and bytecode shipped in the package (a test compares them).
artifacts: setup
	python -c "from othentic_offchain.chain.build import export_artifacts; print(*export_artifacts(), sep='\n')"

bench: setup
	python bench/bls.py
	python bench/gas.py
	python bench/throughput.py

clean:
	rm -rf .build .ape contracts/.cache .hypothesis
