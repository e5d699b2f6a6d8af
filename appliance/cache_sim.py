"""``streamfleet cache-sim``: replay a request trace through one eviction policy and print its miss ratios."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appliance.eviction import POLICY_NAMES, TRACE_FORMATS, EvictionError, expand_to_chunks, read_trace
from appliance.eviction.simulate import BELADY, footprint, simulate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamfleet cache-sim",
        description="Replay a request trace through an eviction policy; print object and byte miss ratios "
        "(a human line, then a JSON line). The cache holds the given fraction of the trace's footprint: "
        "of its distinct objects when every size is 1, else of its distinct bytes. No warm-up.",
    )
    parser.add_argument("--trace", required=True, type=Path, help="trace file (bzip2 is detected)")
    parser.add_argument("--format", required=True, choices=TRACE_FORMATS, help="trace format")
    parser.add_argument("--size-fraction", required=True, type=float, help="cache size, e.g. 0.1")
    parser.add_argument("--policy", required=True, choices=(*POLICY_NAMES, BELADY), help="eviction policy")
    parser.add_argument("--expand-chunks", action="store_true", help="expand requests into segment requests")
    parser.add_argument("--seed", type=int, default=1, help="seed of the chunk expansion (default 1)")
    parser.add_argument("--strict", action="store_true", help="fail on a malformed line")
    return parser


def main(argv: list[str]) -> int:
    """Run the command; returns 0, or 1 when the trace cannot be read or simulated (message on stderr)."""
    args = _parser().parse_args(argv)
    try:
        trace = read_trace(args.trace, args.format, strict=args.strict)
        requests = expand_to_chunks(trace.requests, args.seed) if args.expand_chunks else trace.requests
        fp = footprint(requests)
        result = simulate(requests, args.policy, args.size_fraction, fp)
    except (EvictionError, ValueError) as exc:
        print(f"cache-sim: {exc}", file=sys.stderr)
        return 1
    if trace.malformed:
        skipped = f"skipped {trace.malformed} malformed lines (first: {trace.first_malformed})"
        print(f"cache-sim: {skipped}", file=sys.stderr)
    unit = "objects" if fp.unit_sizes else "bytes"
    chunks = f" (chunks, seed {args.seed})" if args.expand_chunks else ""
    print(
        f"{args.policy} on {args.trace.name}{chunks}: "
        f"{result.requests} requests, {fp.objects} objects, capacity {result.capacity} {unit}: "
        f"object miss ratio {result.object_miss_ratio:.4f}, byte miss ratio {result.byte_miss_ratio:.4f}"
    )
    print(
        json.dumps(
            {
                "trace": str(args.trace),
                "format": args.format,
                "expand_chunks": args.expand_chunks,
                "seed": args.seed if args.expand_chunks else None,
                "policy": args.policy,
                "size_fraction": args.size_fraction,
                "capacity": result.capacity,
                "capacity_unit": unit,
                "requests": result.requests,
                "objects": fp.objects,
                "malformed_lines": trace.malformed,
                "object_miss_ratio": result.object_miss_ratio,
                "byte_miss_ratio": result.byte_miss_ratio,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
