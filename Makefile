# Both targets create the virtual environment on a fresh clone, then run their job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sdflow run teacup --out demo-output/teacup.nc
	$(VENV)/bin/sdflow run sir --set "Contact Infectivity=0.2,0.25,0.3,0.35" --method rk4 --out demo-output/sir.csv

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) demo-output
