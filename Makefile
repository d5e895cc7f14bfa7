PY := .venv/bin/python
STAMP := .venv/.trttt_mm_env

.PHONY: install demo test test-all clean-demo

# Creates .venv/ (torch 2.14.1, mmcv 2.1.0 with compiled ops, mmseg 1.2.2, ...)
# and installs this package in editable mode. Seconds when already complete.
install:
	@bash tools/build/install_env.sh

# Synthetic data (cached) -> train the source model -> evaluate on source and
# target -> TR-TTT on the target; prints the tables, writes work_dirs/demo/.
demo: install
	$(PY) tools/run_demo.py --work-dir work_dirs/demo

# The unit and end-to-end test suite (CPU, < 10 minutes on 2 cores;
# `pytest -m benchmark tests` runs the benchmark tier it leaves out).
test: install
	$(PY) -m pytest -q -m "not benchmark" tests

clean-demo:
	rm -rf work_dirs/demo
