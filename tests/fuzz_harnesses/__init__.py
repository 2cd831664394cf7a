"""atheris harnesses for the untrusted-input boundaries: corpus loader, spec validator, store opener.

Run one: `python3 -m tests.fuzz_harnesses.corpus_loader -runs=100000` (libFuzzer flags);
`make fuzz-harnesses` runs all three for 100,000 executions each. The suite runs each briefly.
"""
