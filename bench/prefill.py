"""Prefill benchmark: peak-hour upstream of a site filled nightly versus pull-through only.

Replays viewers' segment requests against one site of appliances twice, in simulated time, with
the real code: the ``streamfleet`` eviction policy on every disk, the shared placement for
routing, and, with fill, the control plane's popularity book, schedules and planner
(``bench/prefill_sim.py`` says what the bench stands in for):

1. ``pull_through``: every miss is fetched from the origin when the viewer asks.
2. ``prefill``: the same, plus a nightly fill: while the window (02:00-06:00 local) is open, the
   planner re-plans every 10 minutes from the playback starts seen so far (new releases get the
   popularity module's boost), each appliance fetches its manifest's titles, every rendition
   and segment, at the schedule's rate and pins them; the rest of its disk stays an ordinary
   cache. A viewer goes to the appliance holding the title, first in ``Placement.rank``.

Both modes use the same disks, the same viewings and the same seed. One JSON line per workload:

- ``pull_through_peak_upstream_bytes`` / ``prefill_peak_upstream_bytes``: bytes fetched from the
  origin for viewers in the busiest 4 consecutive hours of each measured local day, summed over
  the days; each segment counts in the hour it is played.
- ``peak_upstream_reduction``: ``1 - prefill / pull_through`` of those.
- ``fill_bytes``: every byte fetched by fills (all inside fill windows, never part of upstream),
  including the first night, which fills empty disks.
- ``*_byte_hit_ratio``: bytes served from the appliances over bytes requested, measured period.

Workloads (parameters, sources and the trace's split are in the modules' docstrings):
- ``synthetic`` (``bench/prefill_synthetic.py``): a Netflix-like catalog watched for ``--days``
  measured days after two warm-up days (the first fill, of empty disks, is on the second night);
  ``--scale`` scales the catalog and the viewings.
- ``trace`` (``bench/prefill_trace.py``): the UMass YouTube trace (or ``--trace``, same format),
  learnt 00:00-02:00, filled 02:00-06:00, measured 06:00-24:00.

Usage: ``python bench/prefill.py [--trace PATH] [--days N] [--scale X] [--seed S]
[--workload synthetic|trace|all]``. About a minute at the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as ``python bench/prefill.py`` (as ``make bench`` does)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefill_model import Outcome, Workload, summary  # noqa: E402
from bench.prefill_sim import replay  # noqa: E402
from bench.prefill_synthetic import synthetic_workload  # noqa: E402
from bench.prefill_trace import trace_workload  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "umass_youtube" / "youtube.parsed.012908.S1.dat"
WORKLOADS = ("synthetic", "trace")


def compare(workload: Workload) -> tuple[dict[str, object], Outcome, Outcome]:
    """Replay ``workload`` pull-through and with prefill; returns the JSON line and both outcomes."""
    pull = replay(workload, prefill=False)
    pre = replay(workload, prefill=True)
    return summary(workload, pull, pre), pull, pre


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE, help="UMass-format trace")
    parser.add_argument("--days", type=int, default=7, help="measured days of the synthetic workload")
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic catalog and viewing volume")
    parser.add_argument("--seed", type=int, default=1, help="synthetic workload and chunk expansion")
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all")
    args = parser.parse_args(argv)
    if args.days < 1 or args.scale <= 0:
        parser.error("need --days >= 1 and --scale > 0")
    for name in WORKLOADS:
        if args.workload not in (name, "all"):
            continue
        if name == "synthetic":
            workload = synthetic_workload(args.scale, args.days, args.seed)
        else:
            workload = trace_workload(args.trace, args.seed)
        line, _, _ = compare(workload)
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
