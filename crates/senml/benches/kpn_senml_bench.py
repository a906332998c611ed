"""The reference for `cargo bench -p senml --bench decode`: kpn-senml (PyPI) decoding
the same SenML packs, one core.

Usage: python3 kpn_senml_bench.py DIR SECONDS
Reads every pack*.json / pack*.cbor file in DIR and prints, one line per file:
    NAME RECORDS_PER_SECOND MB_PER_SECOND
kpn-senml parses a pack into SenmlPack/SenmlRecord objects (from_json/from_cbor),
applying base names and values as it goes: the nearest thing it has to resolution.
"""

import builtins
import pathlib
import sys
import time

# kpn-senml 1.0.1 checks string values against Python 2's `basestring`, which
# Python 3 lacks (NameError on every "vs" record); give it the Python 3 meaning so
# it can decode the same packs as everyone else.
builtins.basestring = str

from kpn_senml import SenmlPack  # noqa: E402


def rate(data: bytes, is_cbor: bool, seconds: float):
    text = None if is_cbor else data.decode("utf-8")
    records = packs = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pack = SenmlPack("")
        if is_cbor:
            pack.from_cbor(data)
        else:
            pack.from_json(text)
        records += sum(len(p._data) if isinstance(p, SenmlPack) else 1 for p in pack._data)
        packs += 1
    elapsed = time.perf_counter() - start
    return records / elapsed, packs * len(data) / elapsed / 1e6


def main():
    folder = pathlib.Path(sys.argv[1])
    seconds = float(sys.argv[2])
    for path in sorted(folder.glob("pack*.*")):
        rps, mbs = rate(path.read_bytes(), path.suffix == ".cbor", seconds)
        print(f"{path.name} {rps:.0f} {mbs:.3f}", flush=True)


if __name__ == "__main__":
    main()
