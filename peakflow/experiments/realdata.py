"""Peaks found in the real spectra of ``../shared/data`` against their reference values.

``python -m peakflow.experiments.realdata [--data ../shared/data] [--out DIR] [--plot]``

References: NIST StRD Gauss1-3 certified centres and FWHM (``reference_peaks.json``); LaB6
Cu K-alpha1/K-alpha2 doublet positions from Bragg's law (``reference_peaks.json``); RRUFF IR
band positions as listed in the data folder's README (quartz 453, 694, 777/797, 1059, 1163;
calcite 712, 872, ~1394, 1795, 2515; corundum 445, 494, 555, 592, 636 cm-1); the Renishaw
polystyrene Raman spectrum against the ASTM E1840 shifts (`peakflow.standards`). For each
reference the nearest found peak is reported with its ±sd; a doublet counts as resolved when
its two lines are matched to two different found peaks. Bands (`SpectrumFit.bands`): per
reference, whether a band's half-maximum extent holds it (``in_band``) and how many bands
have their maximum within their FWHM of it (``bands_near``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from peakflow.io import read_spectrum
from peakflow.measured import SpectrumFit, fit_many
from peakflow.measured.floor import depth_below
from peakflow.standards import standard_lines

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
RRUFF_BANDS = {
    "Quartz": [453, 694, 777, 797, 1059, 1163],
    "Calcite": [712, 872, 1394, 1795, 2515],
    "Corundum": [445, 494, 555, 592, 636],
}


def references(data: Path) -> dict[str, list[tuple[str, float]]]:
    """Per file (relative path): list of (label, reference x position)."""
    table = json.loads((data / "reference_peaks.json").read_text())
    refs: dict[str, list[tuple[str, float]]] = {}
    for key, value in table.items():
        if key.startswith("NIST"):
            for name, b in value.items():
                refs[f"nist_strd/{name}.dat"] = [("peak 1", b["b4"]), ("peak 2", b["b7"])]
        elif key.startswith("LaB6"):
            refs["xrd_lab6/LaB6_d500_si_psd.xye"] = [
                (f"({line['hkl']}) {band}", line[f"two_theta_CuKa{band[-1]}_deg"])
                for line in value for band in ("Ka1", "Ka2")]
    for path in sorted((data / "rruff_ir").glob("*.txt")):
        mineral = path.name.split("__")[0]
        refs[f"rruff_ir/{path.name}"] = [(f"{v} cm-1", float(v)) for v in RRUFF_BANDS[mineral]]
    for path in sorted((data / "raman_polystyrene").glob("*.txt")):
        refs[f"raman_polystyrene/{path.name}"] = [
            (f"{v:g} cm-1", float(v)) for v in standard_lines("polystyrene").position]
    return refs


def nearest(fit: SpectrumFit, position: float) -> int | None:
    """Index of the found peak nearest `position` (None when there is none)."""
    if not len(fit.peaks):
        return None
    return int(np.argmin(np.abs(fit.peaks.location - position)))


def report(fit: SpectrumFit, refs: list[tuple[str, float]]) -> list[dict]:
    """One row per reference: the nearest found peak, its distance and sds."""
    rows = []
    for label, position in refs:
        i = nearest(fit, position)
        row = {"reference": label, "x": position}
        if i is not None:
            p = fit.peaks
            row.update(found=float(p.location[i]), sd=float(p.location_sd[i]),
                       error=float(p.location[i] - position), fwhm=float(p.fwhm[i]),
                       index=i)
        b = fit.bands
        row.update(in_band=bool(np.any(np.abs(b.maximum - position) <= 0.5 * b.fwhm)),
                   bands_near=int(np.sum(np.abs(b.maximum - position) <= b.fwhm)))
        rows.append(row)
    return rows


def doublets_resolved(rows: list[dict], tolerance: float) -> tuple[int, int]:
    """(resolved, total) K-alpha doublets: both lines matched within `tolerance`, distinctly."""
    resolved = total = 0
    for a, b in zip(rows[::2], rows[1::2]):
        total += 1
        ok = all("found" in r and abs(r["error"]) <= tolerance for r in (a, b))
        resolved += int(ok and a["index"] != b["index"])
    return resolved, total


def reflections_once(fit: SpectrumFit, kalpha1: list[float]) -> dict:
    """A fit with ``doublet="CuKa"`` against the reflections' Kα1 positions: how many have
    exactly one band (`SpectrumFit.bands`) within 0.03°, and the errors of the nearest."""
    top = fit.bands.maximum
    errors = [float(top[np.argmin(np.abs(top - c))] - c) for c in kalpha1]
    once = sum(int(np.sum(np.abs(top - c) < 0.03)) == 1 for c in kalpha1)
    return {"num_peaks": fit.num_peaks, "num_bands": len(fit.bands), "reflections": len(kalpha1),
            "once": once, "error_min": min(errors), "error_max": max(errors),
            "unexplained_windows": int(fit.windows.unexplained.sum())}


def markdown(summary: dict) -> str:
    """A compact Markdown table of every file's references and nearest found peaks."""
    lines = ["| file | found | reference | nearest peak ± sd | error | in a band | bands near |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in summary.items():
        if not isinstance(entry, dict):
            continue
        label = Path(name).name.split("__Infrared")[0]
        count = f"{entry['num_peaks']} peaks, {entry['num_bands']} bands"
        if "doublets_resolved" in entry:
            count += " ({} of {} doublets resolved)".format(*entry["doublets_resolved"])
        count += (f"; χ² {entry['chi2']:.3g}, {entry['unexplained_windows']} of "
                  f"{entry['windows']} windows flagged; baseline at worst "
                  f"{entry['below_floor']:+.1f} noise sds below the data's floor")
        for j, row in enumerate(entry["references"]):
            found = f"{row['found']:.5g} ± {row['sd']:.2g}" if "found" in row else "–"
            error = f"{row['error']:+.3g}" if "found" in row else ""
            lines.append(f"| {label if j == 0 else ''} | {count if j == 0 else ''} | "
                         f"{row['reference']} ({row['x']:g}) | {found} | {error} | "
                         f"{'yes' if row['in_band'] else 'no'} | {row['bands_near']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/realdata"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--plot", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    refs = references(args.data)
    names = sorted(refs)
    spectra = [read_spectrum(args.data / name) for name in names]
    start = time.perf_counter()
    fits = fit_many(spectra, model=args.model, names=names)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, fit in zip(names, fits):
        rows = report(fit, refs[name])
        summary[name] = {"num_peaks": fit.num_peaks, "num_bands": len(fit.bands),
                         "unexplained": fit.unexplained, "grid_step": fit.grid_step,
                         "chi2": fit.chi2, "windows": int(fit.windows.start.size),
                         "unexplained_windows": int(fit.windows.unexplained.sum()),
                         "below_floor": depth_below(fit),
                         "noise": fit.noise, "references": rows,
                         "references_in_a_band": float(np.mean([r["in_band"] for r in rows])),
                         "bands_per_reference": float(np.mean([r["bands_near"]
                                                                for r in rows]))}
        print(f"\n{name}: {fit.num_peaks} peaks in {len(fit.bands)} bands found, grid step "
              f"{fit.grid_step:.4g}, "
              f"{fit.windows.start.size} window(s)"
              + (", some windows unexplained" if fit.unexplained else ""))
        print(f"  {'reference':>16} {'x':>10} {'nearest found':>22} {'error':>9} {'FWHM':>9}")
        for r in rows:
            found = f"{r['found']:.5g} ± {r['sd']:.2g}" if "found" in r else "-"
            err = f"{r['error']:+.3g}" if "found" in r else ""
            fw = f"{r['fwhm']:.3g}" if "found" in r else ""
            print(f"  {r['reference']:>16} {r['x']:>10.5g} {found:>22} {err:>9} {fw:>9}"
                  f"  in a band: {r['in_band']}, bands near: {r['bands_near']}")
        if name.startswith("xrd"):
            resolved, total = doublets_resolved(rows, tolerance=0.02)
            summary[name]["doublets_resolved"] = [resolved, total]
            print(f"  K-alpha doublets resolved (both lines within 0.02 deg, as two peaks): "
                  f"{resolved} of {total}")
            summary[name]["doublet_CuKa"] = reflections_once(
                fit_many([spectra[names.index(name)]], model=args.model, doublet="CuKa")[0],
                [x for _, x in refs[name][::2]])
            print("  with doublet='CuKa': {num_peaks} peaks, {num_bands} bands, {once} of "
                  "{reflections} reflections once (one band within 0.03 deg of K-alpha1), "
                  "K-alpha1 errors {error_min:+.4f} to {error_max:+.4f}".format(
                      **summary[name]["doublet_CuKa"]))
        stem = Path(name).stem
        fit.write_csv(args.out / f"{stem}.peaks.csv")
        if args.plot:
            import matplotlib.pyplot as plt

            from peakflow.plotting import plot_spectrum_fit

            figure = plot_spectrum_fit(fit, title=f"{Path(name).name}: {fit.num_peaks} peaks")
            figure.savefig(args.out / f"{stem}.png", dpi=110)
            plt.close(figure)
    summary["seconds_all_files"] = seconds
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    (args.out / "summary.md").write_text(markdown(summary))
    print(f"\nfitted {len(names)} files in {seconds:.2f} s; tables in {args.out}")


if __name__ == "__main__":
    main()
