# tritondiff: the two commands of the README. Both do all set-up on a fresh machine.
PY ?= python3
MINUTES ?= 2
BACKENDS ?= interpreter,cuda,hip
JOBS ?= 2

.PHONY: setup fuzz test lint bench

setup:
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dist]'
	$(PY) -m fuzz setup --system

fuzz: setup
	$(PY) -m fuzz fuzz --backends $(BACKENDS) --minutes $(MINUTES) --jobs $(JOBS) --db runs/default.sqlite

lint:
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/distributed.py
