# gabor-bench: every target creates the virtual environment on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# GPU=1 installs the gpu extra too (TensorFlow's CUDA build): make venv GPU=1, or any target
# that creates the venv. The stamp holds the extras installed; a venv that has the gpu extra
# keeps it, and one installed without it is reinstalled when GPU=1 asks for it.
GPU    ?=
comma  := ,
STAMP_EXTRAS := $(if $(wildcard $(STAMP)),$(or $(strip $(shell cat $(STAMP))),test))
EXTRAS := test$(if $(or $(filter 1 yes true,$(GPU)),$(findstring gpu,$(STAMP_EXTRAS))),$(comma)gpu)
# make reproduce ALLOW_CPU=1: run the paper grid even where no GPU is visible.
ALLOW_CPU ?=
CPU_FLAG := $(if $(filter 1 yes true,$(ALLOW_CPU)),--allow-cpu)
JOBS   ?= 1
# The demo's small models use a core each better than two cores together.
DEMO_JOBS ?= 2
# make demo trains into this fresh folder, then compares it with the committed results/.
DEMO_OUT ?= demo-out
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

# gpu-check runs on the machine's own Python and backend (TensorFlow, JAX or PyTorch): the
# project's venv when there is one, else python3; GPU_DEPS adds a folder of dependencies
# installed with pip --target (README: "Checking a GPU machine").
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_CHECK_ARGS ?=

.PHONY: help venv test slurm-check demo demo-reference reproduce download report bench gpu-check clean clean-data

help:
	@echo "make demo       run the whole benchmark on the synthetic twins into $(DEMO_OUT)/ (CPU,"
	@echo "                minutes) and compare it with the committed results/"
	@echo "make demo-reference  the same demo, written into results/ (refreshes the reference)"
	@echo "make test       lint (ruff) and run the test suite (offline; as root with apt-get it"
	@echo "                installs slurm-wlm and munge first, for the SLURM test)"
	@echo "make slurm-check  submit a ci grid to a throw-away local SLURM and check it"
	@echo "make reproduce  download what can be downloaded and run the paper profile (GPU;"
	@echo "                ALLOW_CPU=1 without one); make venv GPU=1 installs the GPU build"
	@echo "make download   fetch every dataset that can be fetched"
	@echo "make report     rebuild results/ tables and plots from results/runs"
	@echo "make bench      time the layer and the input pipeline"
	@echo "make gpu-check  time the layer and run a ci grid on this machine's GPU (any backend)"
	@echo "make clean      remove build artefacts and caches (never downloads)"
	@echo "make clean-data remove downloaded datasets too (asks GABORBENCH_HOME)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the project's dependencies change, or other extras are asked for.
ifneq ($(STAMP_EXTRAS),)
ifneq ($(STAMP_EXTRAS),$(EXTRAS))
.PHONY: $(STAMP)
endif
endif
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@echo '$(EXTRAS)' > $(STAMP)

venv: $(STAMP)

# Two worker processes (one per core here): 4.8 instead of 7.7 min; a test file stays on
# one worker, so module fixtures (the e2e grid) run once.
TEST_JOBS ?= 2
# The SLURM test needs slurmctld, slurmd and munged: installed here where that is possible
# (quick when they are already there); elsewhere the test is skipped and says why.
test: $(STAMP)
	$(PY) -m ruff check .
	@bash scripts/slurm-local.sh install
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

# The same SLURM test alone (it reuses the e2e file's ci grid as its reference).
slurm-check: $(STAMP)
	@bash scripts/slurm-local.sh install
	$(PY) -m pytest -q tests/test_e2e.py -k slurm

# Always computes: a fresh folder, so no committed run file is mistaken for a finished cell.
demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(PY) -m benchmark.cli reproduce --profile demo --jobs $(DEMO_JOBS) --out $(DEMO_OUT)
	$(PY) -m benchmark.cli transfer --runs $(DEMO_OUT)/runs --out $(DEMO_OUT)
	$(PY) -m benchmark.cli compare $(DEMO_OUT) results

# Recomputes too: the old run files would be skipped as done (a configuration hash does
# not change with the software underneath), so they are removed first.
demo-reference: $(STAMP)
	rm -rf results/runs results/models results/logs results/tables results/plots results/summary.csv
	$(PY) -m benchmark.cli reproduce --profile demo --jobs $(DEMO_JOBS) --out results
	$(PY) -m benchmark.cli transfer --runs results/runs --out results

# A dataset that fails to download is reported and left out; the grid marks it missing.
# Without a GPU it stops first, before any download (ALLOW_CPU=1 runs on the CPU anyway).
reproduce: $(STAMP)
	$(PY) -m benchmark.grid --require-gpu $(CPU_FLAG)
	-$(PY) -m benchmark.cli download all --skip-manual
	$(PY) -m benchmark.cli reproduce --profile paper --jobs $(JOBS) $(CPU_FLAG)

download: $(STAMP)
	$(PY) -m benchmark.cli download all --skip-manual

report: $(STAMP)
	$(PY) -m benchmark.cli report

bench: $(STAMP)
	$(PY) -m benchmark.cli bench

# No venv and no install: the GPU machine may have no package index and no TensorFlow.
gpu-check:
	PYTHONPATH="$(CURDIR)$(if $(GPU_DEPS),:$(GPU_DEPS))" $(GPU_PYTHON) -m benchmark.gpucheck $(GPU_CHECK_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:
	$(PY) -m benchmark.cli clean-data
