"""Run benchmarks: every ``bench/bench_<name>.py`` exposing ``main() -> dict``.

Each benchmark writes its own ``bench/results/<name>.json``; this runner only finds and
runs them, so one benchmark failing does not hide the others' results.

``python -m bench [NAME...] [--profile]``: ``--profile`` also records a py-spy flame graph
where a benchmark supports it (``ehr``: ``bench/results/ehr-profile.svg``).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
import traceback

import bench


def main(argv: list[str]) -> int:
    if "--profile" in argv:
        os.environ["CHARTGUARD_BENCH_PROFILE"] = "1"
    argv = [a for a in argv if a != "--profile"]
    names = argv or sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_")
    )
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"== bench {name}", flush=True)
        try:
            importlib.import_module(f"bench.bench_{name}").main()
        except Exception:  # report and go on to the next benchmark
            traceback.print_exc()
            failed.append(name)
        print(f"== bench {name}: {time.monotonic() - started:.1f}s", flush=True)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
