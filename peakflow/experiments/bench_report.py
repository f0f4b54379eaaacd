"""How big a batch report is and how fast it opens: ``python -m peakflow.experiments.bench_report``.

Fits ``--n`` (1,000) simulated measured spectra (`realistic.realistic_spectrum`, every third
one harsh: fluorescence, shot noise, spikes, weak peaks), writes their report
(`peakflow.report`) and prints its size, the time to write it and, where a Chromium is
installed, the time headless Chromium takes to open it: the page's own mark (navigation to
the end of its script: the HTML parsed, the summary table laid out) for the page as it opens
and with one spectrum's figure and tables opened, and each browser run's wall time (browser
start-up included).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import peakflow
from peakflow.experiments.browser import find_chromium, render
from peakflow.experiments.realistic import realistic_spectrum


def simulated_fits(n: int, seed: int) -> list:
    """`n` fitted simulated spectra named ``sim_0000.csv``, ..."""
    rng = np.random.default_rng(seed)
    pairs = [realistic_spectrum(rng, harsh=i % 3 == 0)[:2] for i in range(n)]
    return peakflow.fit_many(pairs, names=[f"sim_{i:04d}.csv" for i in range(n)])


def measure(fits: list, path: Path) -> dict:
    """Writes the report and times it; opens it in Chromium when there is one."""
    start = time.perf_counter()
    peakflow.report(fits, path)
    out = {"spectra": len(fits), "write_s": time.perf_counter() - start,
           "size_mb": path.stat().st_size / 1e6,
           "flagged": sum(bool(f.unexplained) for f in fits)}
    if find_chromium() is None:
        return out | {"browser": None}
    url = path.resolve().as_uri()
    closed, opened = render(url), render(url + "?open=0")
    return out | {"browser": find_chromium(), "open_ready_ms": closed.ready_ms(),
                  "open_wall_s": closed.seconds, "with_one_figure_ready_ms": opened.ready_ms(),
                  "with_one_figure_wall_s": opened.seconds,
                  "console_messages": closed.console + opened.console}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="simulated spectra")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/report_bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fits = simulated_fits(args.n, args.seed)
    fit_s = time.perf_counter() - start
    out = {"fit_s": fit_s, **measure(fits, args.out / "report.html")}
    print(json.dumps(out, indent=1))
    (args.out / "bench_report.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
