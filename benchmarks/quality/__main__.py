"""python -m benchmarks.quality: every data set in its own child process, then the table.

Each child (benchmarks.quality.run_set) starts its own throwaway embedded Postgres and Redis:
a fresh database per data set. This process sets up no Django at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.quality.datasets import DATASETS, Options, datasets_missing
from benchmarks.quality.report import table

TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"


def options_parse() -> tuple[argparse.Namespace, list[Options]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--preset", action="append", help="model preset(s) to measure (default: offline)")
    parser.add_argument("--fashion-limit", type=int, help="import only the first N fashion products")
    parser.add_argument("--shopper", type=int, default=Options.shopper, help="shopper-like photo queries")
    parser.add_argument("--more-like-this", type=int, default=Options.more_like_this, help="products asked")
    parser.add_argument("--words", type=int, default=Options.words, help="base word queries (x4 forms)")
    parser.add_argument("--rejection", type=int, default=Options.rejection, help="other-set photos per direction")
    parser.add_argument("--grocery-queries", type=int, help="shop photos of the split asked (all)")
    parser.add_argument("--train-per-product", type=int, help="grocery train photos added per product (all)")
    parser.add_argument("--split", choices=["val", "test"], default="val",
                        help="grocery query split; test only for a final report, never for tuning")  # fmt: skip
    parser.add_argument(
        "--sets",
        default="fashion,grocery",
        help="comma-separated: fashion, grocery, words (the fashion words figures alone: the catalog "
        "imported without photos, minutes instead of an hour)",
    )
    parser.add_argument("--no-baselines", dest="baselines", action="store_false")
    parser.add_argument("--tune", action="store_true",
                        help="grocery: also tune the model to the shop on the train photos (search_model tune), "
                        "run its gate, and measure the tuned model")  # fmt: skip
    parser.add_argument("--tune-gate-sample", type=int, default=Options.tune_gate_sample,
                        help="photos in each of the gate's self-tests (--tune): held-out train-split shop "
                        "photos, or copies of catalog photos when too few are held out")  # fmt: skip
    args = parser.parse_args()
    runs = [
        Options(
            preset=preset,
            fashion_limit=args.fashion_limit,
            shopper=args.shopper,
            more_like_this=args.more_like_this,
            words=args.words,
            rejection=args.rejection,
            split=args.split,
            grocery_queries=args.grocery_queries,
            train_per_product=args.train_per_product,
            baselines=args.baselines,
            tune=args.tune,
            tune_gate_sample=args.tune_gate_sample,
        )
        for preset in args.preset or ["offline"]
    ]
    return args, runs


def child_environment() -> dict[str, str]:
    """A child's environment: this one without the servers', so that it starts its own throwaway
    Postgres and Redis (config.settings.test)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SNAPSHELF_DATA_DIR", "DATABASE_URL", "REDIS_URL")
    }
    env.setdefault("GLIBC_TUNABLES", TUNABLES)
    # OpenMP threads that wait passively: on a busy machine spinning ones burn 5x the CPU per image.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    return env


def set_run(name: str, options: Options, folder: Path) -> dict[str, object]:
    """One data set in a child process with its own servers (a fresh database)."""
    out = folder / f"{options.preset}-{name}.json"
    env = child_environment()
    command = [sys.executable, "-m", "benchmarks.quality.run_set", "--set", name,
               "--options", json.dumps(dataclasses.asdict(options)), "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=Path(__file__).resolve().parents[2], check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the {name} run failed (exit status {completed.returncode}); see the output above")
    result = json.loads(out.read_text())
    result["seconds"] = time.perf_counter() - start
    print(f"  {options.preset} / {name}: {result['seconds']:.0f} s", file=sys.stderr)
    return result


def main() -> None:
    args, runs = options_parse()
    missing = datasets_missing()
    if missing:
        raise SystemExit(
            f"The quality benchmark needs ../shared/datasets beside the checkout ({DATASETS}; or set "
            "SNAPSHELF_DATASETS_DIR); missing: " + ", ".join(str(path) for path in missing)
        )
    started = datetime.datetime.now(datetime.UTC)
    load = os.getloadavg()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="quality-") as folder:
        for options in runs:
            results[options.preset] = {
                name: set_run(name, options, Path(folder)) for name in args.sets.split(",") if name
            }
    report = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.quality", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 1) for x in load],
        "options": [dataclasses.asdict(options) for options in runs],
        "results": results,
    }
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
