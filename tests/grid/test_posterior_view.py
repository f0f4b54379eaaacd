"""A grid posterior shown: figure without the data it does not hold, and the notebook
display of one spectrum and of a batch."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import peakflow
from peakflow.grid.posterior_view import PREVIEW, plot_fit


@pytest.fixture(scope="module")
def one(grid_batch, default_model):
    return peakflow.infer(np.asarray(grid_batch.spectrum[0]), model=default_model)


def test_one_spectrum_shows_its_figure_p_k_and_a_row_per_peak(one):
    shown = one._repr_html_()
    assert shown.count("<img") == 1 and "P(K=0)" in shown
    assert shown.count("<tr>") == int(one.num_peaks) + 1
    assert repr(one).startswith("Posterior:")


def test_a_batch_lists_its_first_spectra(grid_posterior):
    shown = grid_posterior._repr_html_()
    count = grid_posterior.num_peaks.shape[0]
    assert f"batch of {count} spectra" in shown and "<img" not in shown
    assert shown.count("<tr>") == min(count, PREVIEW) + 1


def test_the_posterior_alone_is_one_panel(one):
    fig = plot_fit(None, one)
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "grid point"
    assert not any(line.get_label() == "data" for line in fig.axes[0].get_lines())
    assert np.isfinite(fig.axes[0].get_lines()[0].get_ydata()).all()
    plt.close(fig)
