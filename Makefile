PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/refocus.yaml
REPLICATES ?=
STAMP := $(VENV)/.installed

.PHONY: install run test bench scenarios clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,distributed]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crtsim run $(SCENARIO) $(if $(REPLICATES),--replicates $(REPLICATES))

scenarios: $(STAMP)
	for f in scenarios/*.yaml; do $(BIN)/crtsim run $$f --quiet || exit 1; done

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -q -p no:cacheprovider
	$(BIN)/python -m benchmarks.bench

clean:
	rm -rf $(VENV) outputs/*/
