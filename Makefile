# touchplan: `make run` (local stack on in-memory AWS) and `make test` (what CI runs) work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-any-date lint unit requirements policies package bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/touchplan run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy --strict chalicelib/domain
	$(BIN)/lint-imports

# Two workers (pytest-xdist): every test builds its own moto stack, so they share nothing but the machine.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The same suite on a wall clock moved more than a year ahead, 30 s before Europe's summer-time switch
# (2028-03-26 01:00 UTC), in a Berlin local zone: it passes only if no test depends on today's date.
TRAVEL ?= 2028-03-26T00:59:30+00:00
test-any-date: $(STAMP)
	TOUCHPLAN_TEST_TRAVEL=$(TRAVEL) TZ=Europe/Berlin $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

requirements: $(STAMP)
	$(BIN)/python -m cli.requirements > requirements.txt

policies: $(STAMP)
	$(BIN)/python -m cli.policies .chalice

# The deployment package of STAGE in build/STAGE: chalice package, plus bytecode and the parsed strategy.
STAGE ?= dev
package: $(STAMP)
	$(BIN)/touchplan package --stage $(STAGE) build/$(STAGE)

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
