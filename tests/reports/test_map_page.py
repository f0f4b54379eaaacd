"""`peakflow.reports.map_report`: a map's failed pixels, bands, images and histograms."""

import re

import numpy as np
import pytest

import peakflow
from peakflow.experiments.bench_measured import simulated_map
from peakflow.reports import map_report
from peakflow.reports.map_page import band_rows


@pytest.fixture(scope="module")
def fitted(broad_model):
    cube, x, truth = simulated_map(np.random.default_rng(2), (3, 4), 800)
    cube[1, 2, 50] = np.nan
    result = peakflow.fit_map(cube, x, model=broad_model, progress=False)
    return result, peakflow.band_maps(result), truth


def test_the_page_shows_failures_bands_images_and_histograms(fitted, tmp_path):
    result, bands, truth = fitted
    path = map_report(result, bands, tmp_path / "map.html", variable="amplitude")
    page = path.read_text()
    assert "12 pixels (dim_0 3 × dim_1 4): 11 fitted" in page
    assert "y contains 1 NaN" in page
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    assert len(re.findall(r"<h2>", page)) == 4
    header, rows = band_rows(bands)
    assert len(rows) == bands.sizes["band"] >= 3
    np.testing.assert_allclose([r[1] for r in rows[:3]], truth["location"][:3], atol=1.0)
    assert rows[0][2] == "100%"
    with pytest.raises(ValueError, match="no variable 'heights'"):
        map_report(result, bands, tmp_path / "x.html", variable="heights")
    assert not (tmp_path / "x.html").exists()
