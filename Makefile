# peakflow: `make demo` fits a spectrum with the bundled model, `make test` runs the tests.
# Both create the virtual environment on first use.

VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PRESET  ?= compact
STEPS   ?=
WORKDIR ?= experiments/runs/$(PRESET)
SET     ?=
CONFIG  ?=
N       ?= 1000

.PHONY: install demo train bundle test test-all lint evaluate bench compare clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PYTHON) -m peakflow.experiments.demo

# make train PRESET=paper STEPS=20000 WORKDIR=experiments/runs/paper SET="train.batch_size=128"
train: $(STAMP)
	$(PYTHON) -m peakflow.experiments.train --preset $(PRESET) --workdir $(WORKDIR) \
		$(if $(CONFIG),--config $(CONFIG)) $(if $(STEPS),--steps $(STEPS)) $(if $(SET),--set $(SET))

# copy a finished run's model into the package as the bundled default
bundle:
	rm -rf peakflow/models/default
	cp -r $(WORKDIR)/model peakflow/models/default

evaluate: $(STAMP)
	$(PYTHON) -m peakflow.experiments.evaluate --n $(N)

bench: $(STAMP)
	$(PYTHON) -m peakflow.experiments.bench --json experiments/results/bench.json

# QUICK=1 for the <= 15-minute CPU version
compare: $(STAMP)
	$(PYTHON) -m peakflow.experiments.compare $(if $(QUICK),--quick)

test: $(STAMP)
	$(PYTHON) -m pytest -q

test-all: $(STAMP)
	$(PYTHON) -m pytest -q -m ""

lint: $(STAMP)
	$(PYTHON) -m pip install --quiet ruff
	$(PYTHON) -m ruff check peakflow tests

clean:
	rm -rf $(VENV) .pytest_cache experiments/results
