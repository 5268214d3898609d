# `make demo`: set up .venv/ if needed, then train and evaluate Mask R-CNN + DropLoss on the
# built-in synthetic long-tailed dataset (2 CPU processes). `make test`: set up, then run the tests.
# `make benchmark`: the calibration methods (and, once a design is frozen, the held-out ones), 3 seeds each (docs/benchmark.md).
VENV_PY := .venv/bin/python
STAMP := .venv/.setup-done

.PHONY: setup demo test bench benchmark dist

$(STAMP): pyproject.toml setup.py tools/setup_env.sh
	bash tools/setup_env.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	bash tools/run_demo.sh

test: $(STAMP)
	$(VENV_PY) -m pytest -q tests

bench: $(STAMP)
	$(VENV_PY) tools/benchmark_losses.py

# The loss benchmark: the LVIS-scale RoI simulator's frozen design roi_v1e (calibration and held-out
# methods, 3 seeds; 3-9 min a run on 2 cores, about 3.3 h in all; resumable). The image benchmark
# (not validated): python tools/benchmark.py --design vocab150.
benchmark: $(STAMP)
	$(VENV_PY) tools/benchmark.py --design roi_v1e

# The wheel and the sdist in dist/ (configs, model index and tools inside; see docs/install.md).
dist: $(STAMP)
	rm -rf dist
	$(VENV_PY) -m build --no-isolation
	$(VENV_PY) -m twine check --strict dist/*
