"""Figures: drawn on the caller's axes, labelled with the file's units, readable with many
peaks, and no backend switching on import."""

import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import peakflow
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.plotting import plot_fit, plot_spectrum_fit


@pytest.fixture(scope="module")
def labelled_fit(broad_model, tmp_path_factory):
    y, x, _ = realistic_spectrum(np.random.default_rng(5), points=(1500, 1500), peaks=(8, 8))
    path = tmp_path_factory.mktemp("plot") / "s.csv"
    path.write_text("Raman shift (cm-1),counts\n"
                    + "\n".join(f"{a:.6f},{b:.6f}" for a, b in zip(x, y)))
    return peakflow.fit(peakflow.read_spectrum(path), model=broad_model)


def test_importing_the_plots_keeps_the_callers_backend():
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run([sys.executable, "-c", "import peakflow.plotting, matplotlib; "
                          "print(matplotlib.get_backend())"], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().lower() == "svg"


def test_axes_carry_the_files_labels(labelled_fit):
    assert labelled_fit.meta["x_label"] == "Raman shift (cm-1)"
    fig = plot_spectrum_fit(labelled_fit)
    top, bottom = fig.axes
    assert bottom.get_xlabel() == "Raman shift (cm-1)" and top.get_ylabel() == "counts"
    plt.close(fig)


def test_figures_draw_on_the_callers_axes(labelled_fit, default_model, grid_batch):
    fig, (a, b, c) = plt.subplots(3, 1)
    assert plot_spectrum_fit(labelled_fit, ax=a) is fig
    assert a.get_xlabel() == "Raman shift (cm-1)" and len(fig.axes) == 3
    plot_spectrum_fit(labelled_fit, ax=(b, c))
    assert c.get_ylabel() == "residual"
    plt.close(fig)
    fig, ax = plt.subplots()
    spectrum = np.asarray(grid_batch.spectrum[0])
    assert plot_fit(spectrum, peakflow.infer(spectrum, model=default_model), ax=ax) is fig
    assert ax.get_xlabel() == "grid point"
    plt.close(fig)


def test_many_peaks_are_marks_and_a_probability_filter_applies(labelled_fit):
    dashed = lambda ax: sum(line.get_linestyle() == "--" for line in ax.get_lines())
    fig = plot_spectrum_fit(labelled_fit)
    assert dashed(fig.axes[0]) == labelled_fit.num_peaks
    plt.close(fig)
    fig = plot_spectrum_fit(labelled_fit, max_components=3)          # "many": marks
    assert dashed(fig.axes[0]) == 0
    plt.close(fig)
    fig = plot_spectrum_fit(labelled_fit, min_probability=1.01)      # none pass
    assert dashed(fig.axes[0]) == 0
    plt.close(fig)
