"""Eviction benchmark: object and byte miss ratios of every policy and Belady at 0.1%, 1% and 10%.

Prints one JSON line per cache size. The cache holds that fraction of the trace's footprint
(distinct objects for unit sizes, distinct bytes otherwise), no warm-up. The default trace is
the UMass YouTube S1 trace in ``shared/traces`` beside the repository; any trace of a supported
format works (``--expand-chunks`` turns video requests into segment requests, see
``appliance/eviction/chunks.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from appliance.eviction import POLICY_NAMES, TRACE_FORMATS, expand_to_chunks, read_trace
from appliance.eviction.simulate import BELADY, footprint, simulate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "umass_youtube" / "youtube.parsed.012908.S1.dat"
FRACTIONS = (0.001, 0.01, 0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Miss ratios of every eviction policy and Belady.")
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--format", choices=TRACE_FORMATS, default="umass")
    parser.add_argument("--expand-chunks", action="store_true")
    parser.add_argument("--seed", type=int, default=1, help="chunk expansion seed (default 1)")
    args = parser.parse_args(argv)
    trace = read_trace(args.trace, args.format)
    requests = expand_to_chunks(trace.requests, args.seed) if args.expand_chunks else trace.requests
    fp = footprint(requests)
    for fraction in FRACTIONS:
        started = time.perf_counter()
        results = {name: simulate(requests, name, fraction, fp) for name in (*POLICY_NAMES, BELADY)}
        line = {
            "trace": args.trace.name,
            "size_fraction": fraction,
            "object_miss_ratio": {name: round(r.object_miss_ratio, 4) for name, r in results.items()},
            "byte_miss_ratio": {name: round(r.byte_miss_ratio, 4) for name, r in results.items()},
            "expand_chunks": args.expand_chunks,
            "seed": args.seed if args.expand_chunks else None,
            "requests": len(requests),
            "capacity": results[BELADY].capacity,
            "capacity_unit": "objects" if fp.unit_sizes else "bytes",
            "seconds": round(time.perf_counter() - started, 2),
        }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
