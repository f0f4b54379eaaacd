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

DATA    ?= ../shared/data
FILES   ?=
OUT     ?= experiments/results/fit

.PHONY: install demo train bundle fit realdata realistic test test-all lint evaluate bench \
	compare clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test,lint,maps,vendor,compare]"
	touch $(STAMP)

demo: $(STAMP)
	$(PYTHON) -m peakflow.experiments.demo

# make train PRESET=paper STEPS=20000 WORKDIR=experiments/runs/paper SET="train.batch_size=128"
train: $(STAMP)
	$(PYTHON) -m peakflow.experiments.train --preset $(PRESET) --workdir $(WORKDIR) \
		$(if $(CONFIG),--config $(CONFIG)) $(if $(STEPS),--steps $(STEPS)) $(if $(SET),--set $(SET))

# copy a finished run's model into the package: `make bundle` (default model, preset compact;
# its sds calibrated on held-out spectra), `make bundle PRESET=broad` (the real-data model)
BUNDLE := $(if $(filter broad,$(PRESET)),broad,default)
bundle:
	rm -rf peakflow/models/$(BUNDLE)
	cp -r $(WORKDIR)/model peakflow/models/$(BUNDLE)
	$(PYTHON) -c "from peakflow.runtime.sealed import seal; seal('peakflow/models/$(BUNDLE)')"
	$(if $(filter default,$(BUNDLE)),$(PYTHON) -m peakflow.experiments.calibrate_sds \
		--model peakflow/models/default)

# make fit FILES="a.txt b.csv" OUT=results: peak tables and plots for your own files
fit: $(STAMP)
	$(VENV)/bin/peakflow fit $(FILES) --out $(OUT) --plot

# the real spectra of ../shared/data against their reference peaks (tables, plots)
realdata: $(STAMP)
	$(PYTHON) -m peakflow.experiments.realdata --data $(DATA) --plot

# accuracy on realistic simulated spectra (baselines, many peaks, noise levels)
realistic: $(STAMP)
	$(PYTHON) -m peakflow.experiments.realistic --n 50

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

# ruff (style, bugs, import order) on everything; mypy on the public API: the package's
# namespace and the modules that define its entry points, results and options
TYPED := peakflow/__init__.py peakflow/extras.py peakflow/io.py peakflow/map_io.py \
	peakflow/core/seeds.py peakflow/runtime/trained.py peakflow/runtime/sealed.py \
	peakflow/runtime/compile_cache.py peakflow/columns.py peakflow/metadata.py peakflow/axes.py \
	peakflow/standards.py peakflow/measured/calibration.py peakflow/measured/calibrate.py \
	peakflow/grid/infer.py peakflow/grid/exactness.py peakflow/grid/posterior.py \
	peakflow/reference/finetune.py peakflow/measured/options.py peakflow/measured/pipeline.py \
	peakflow/measured/batch.py peakflow/measured/intensity.py peakflow/measured/results.py \
	peakflow/measured/maps.py peakflow/display.py peakflow/reports/__init__.py \
	peakflow/reports/fits_page.py peakflow/reports/map_page.py peakflow/reports/page.py \
	peakflow/reports/compact.py peakflow/runtime/saved_programs.py
lint: $(STAMP)
	$(PYTHON) -m ruff check peakflow tests
	$(PYTHON) -m mypy $(TYPED)

clean:
	rm -rf $(VENV) .pytest_cache experiments/results
