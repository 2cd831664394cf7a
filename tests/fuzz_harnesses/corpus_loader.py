"""atheris: arbitrary bytes (and byte-level mutations of a real corpus file) through the corpus
loader; the only way out is a CorpusEntry or a one-line CorpusError naming the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import generators.case  # noqa: F401  (imported lazily by the loader: instrument them too)
    import generators.render  # noqa: F401
    import generators.validate  # noqa: F401
    from fuzz.corpus import CorpusError, parse_document
    from tests.fuzz_harnesses.common import assert_inert, seed_doc

SEED = json.dumps(seed_doc()).encode()
WHERE = Path("fuzzed.json")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:  # splice fuzz bytes into the real file, so deep fields get exercised too
        at = fdp.ConsumeIntInRange(0, len(SEED))
        cut = fdp.ConsumeIntInRange(0, 64)
        raw = SEED[:at] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) + SEED[at + cut:]
    try:
        entry = parse_document(raw, WHERE)
    except CorpusError as e:
        msg = str(e)
        assert msg.startswith("fuzzed.json: ") and "\n" not in msg, msg
        return
    case = entry.case
    assert_inert(case.source, {a.name for a in case.args})


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
