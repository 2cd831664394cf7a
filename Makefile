# tritondiff: the two commands of the README. Both do all set-up on a fresh machine.
PY ?= python3
MINUTES ?= 2
BACKENDS ?= interpreter,cuda,hip
JOBS ?= 2
# test files run in TEST_JOBS processes (pytest-xdist), one file per process at a time: the suite
# waits on backend workers more than it computes, so two processes on two cores halve its time
TEST_JOBS ?= 2

.PHONY: setup fuzz test lint bench fuzz-harnesses

setup:
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dist]'
	$(PY) -m fuzz setup --system

fuzz: setup
	$(PY) -m fuzz fuzz --backends $(BACKENDS) --minutes $(MINUTES) --jobs $(JOBS) --db runs/default.sqlite

lint:
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=25

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/distributed.py

# atheris on the untrusted-input boundaries: 100,000 executions of each harness.
FUZZ_RUNS ?= 100000
fuzz-harnesses:
	for h in spec_validator corpus_loader store_opener; do \
	  $(PY) -m tests.fuzz_harnesses.$$h -runs=$(FUZZ_RUNS) -seed=1 -artifact_prefix=/tmp/ || exit 1; done
