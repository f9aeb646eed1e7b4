# Both targets create the virtual environment on a fresh clone, then run their job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every install takes its versions from the lock, so a fresh clone runs what CI and the
# benchmarks ran; pyproject.toml keeps the library's own bounds loose. `make lock` refreshes it.
CONSTRAINTS := constraints.txt

.PHONY: demo test bench docs lock clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

# demo: two library models from the command line, then the policy lab: baseline and the shipped
# policy scenarios of the whole-system model over 15 years, 200 parameter draws each, Morris and
# Sobol sensitivity and loop dominance -> demo-output/lab/report.html and results.nc (a few minutes).
demo: $(STAMP)
	$(VENV)/bin/sdflow run teacup --out demo-output/teacup.nc
	$(VENV)/bin/sdflow run sir --set "Contact Infectivity=0.2,0.25,0.3,0.35" --method rk4 --out demo-output/sir.csv
	$(VENV)/bin/sdflow lab whole_system_flow --samples 200 --morris 10 --sobol 64 --out demo-output/lab

# test: the type check, then the suite (notebooks, doctests and the docs build included) on every
# core (pytest-xdist; worksteal keeps both cores busy when a long test is left at the end).
test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest -q -n auto --dist worksteal

# bench: every back end against PySD and Simlin (pysimlin, the `bench` extra, installed here only)
# -> benchmarks/results.md (and results_engine.md: numpy against a hand-written loop). World3-03 is read
# from WORLD3_MDL=path/wrld3-03.mdl (the public model; not shipped).
bench: $(STAMP)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[bench]'
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_backends.py $(WORLD3_MDL)

# docs: the API reference from the docstrings (Sphinx, warnings are errors) -> docs/_build/html/index.html
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

# lock: resolve the newest versions that pyproject.toml allows, for every Python it supports
# (uv's universal resolution writes per-version markers), into constraints.txt.
lock:
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet uv
	.lock-venv/bin/uv pip compile pyproject.toml --extra test --extra docs --extra bench --universal \
		--python-version 3.10 --custom-compile-command "make lock" --quiet -o $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) demo-output docs/_build
