"""`peakflow.fit` / `fit_many` with the bundled broad model: simulated truth, real files."""

import numpy as np
import pytest
from scipy import ndimage

import peakflow
from peakflow.experiments.realdata import doublets_resolved, references, report
from peakflow.experiments.realistic import match, realistic_spectrum, score
from peakflow.measured import FitOptions, SpectrumFit, fit, fit_many


@pytest.fixture
def broad(broad_model):
    return broad_model


def test_bundled_broad_model_is_the_broad_preset(broad):
    assert broad.config.preset == "broad" and broad.num_points == 256
    assert broad.config.model.k_max == 8 and broad.config.policy.noise_input


def test_realistic_and_harsh_simulated_spectra_are_recovered(broad):
    rng = np.random.default_rng(11)
    data = [realistic_spectrum(rng, harsh=harsh) for harsh in (False,) * 3 + (True,) * 3]
    fits = fit_many([(y, x) for y, x, _ in data], model=broad)
    assert all(isinstance(f, SpectrumFit) and f.error is None for f in fits)
    metrics = score(fits, [truth for *_, truth in data])
    assert metrics["recall"] >= 0.9
    assert metrics["precision"] >= 0.95  # 0.98-0.99 over 50 spectra (0.86-0.95 unrefined)
    assert metrics["median_location_error_fwhm"] < 0.05
    assert metrics["median_fwhm_rel_error"] < 0.15
    assert metrics["median_area_rel_error"] < 0.2
    # every cosmic-ray spike of the harsh spectra was found and replaced, none became a peak
    spikes = [(f, t.spikes) for f, (*_, t) in zip(fits, data) if t.spikes.size]
    assert spikes
    for fit_, true_spikes in spikes:
        step = fit_.x[1] - fit_.x[0]
        assert np.all(np.min(np.abs(fit_.spikes[:, None] - true_spikes), axis=0) < 0.5 * step)


def test_results_follow_the_callers_units_and_axis_direction(broad):
    y, x, _ = realistic_spectrum(np.random.default_rng(5))
    base = fit(y, x, model=broad)
    # same spectrum, axis scaled ×0.01 and shifted, reversed, intensities ×1000
    moved = fit(1000 * y[::-1], (0.01 * x + 7)[::-1], model=broad)
    assert moved.num_peaks == base.num_peaks > 5
    np.testing.assert_allclose(moved.peaks.location, 0.01 * base.peaks.location + 7, rtol=1e-4)
    np.testing.assert_allclose(moved.peaks.fwhm, 0.01 * base.peaks.fwhm, rtol=1e-3)
    np.testing.assert_allclose(moved.peaks.amplitude, 1000 * base.peaks.amplitude, rtol=1e-3)
    np.testing.assert_allclose(moved.peaks.area, 10 * base.peaks.area, rtol=1e-3)
    np.testing.assert_allclose(moved.noise, 1000 * base.noise, rtol=1e-6)


def test_a_bad_spectrum_in_a_batch_keeps_the_others(broad):
    rng = np.random.default_rng(6)
    (y1, x1, _), (y2, x2, _) = realistic_spectrum(rng), realistic_spectrum(rng)
    broken = y2.copy()
    broken[10] = np.nan
    fits = fit_many([(y1, x1), (broken, x2), (y2, x2)], model=broad)
    assert fits[1].error == "y contains 1 NaN and 0 inf value(s)" and fits[1].num_peaks == 0
    assert fits[0].error is None and fits[2].error is None and fits[0].num_peaks > 5
    alone = fit(y1, x1, model=broad)
    np.testing.assert_allclose(alone.peaks.location, fits[0].peaks.location)
    with pytest.raises(ValueError, match="NaN"):
        fit(broken, x2, model=broad)
    with pytest.raises(TypeError, match="needs its axis"):
        fit(y1, baseline="none")
    shared = fit_many(np.stack([y1[:1500], y1[:1500]]), x=x1[:1500], model=broad)
    np.testing.assert_array_equal(shared[0].peaks.location, shared[1].peaks.location)


def test_every_window_reports_its_number_of_peaks(broad):
    y, x, _ = realistic_spectrum(np.random.default_rng(7))
    result = fit(y, x, model=broad)
    w = result.windows
    assert w.k_probs.shape == (w.start.size, 9)
    np.testing.assert_allclose(w.k_probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(w.num_peaks, w.k_probs.argmax(axis=1))
    assert np.all(w.start < w.stop)
    assert result.x[0] <= w.start.min() and w.stop.max() <= result.x[-1]
    assert np.all(np.isin(result.peaks.window, np.arange(w.start.size)))
    residual = result.y - result.fitted
    assert np.std(residual) < 3 * result.noise  # the curve explains the spectrum


def test_a_window_the_model_cannot_explain_is_flagged(broad):
    x = np.linspace(0, 100, 1500)
    y = np.where((x > 40) & (x < 60), 1.0, 0.0)  # a box: no sum of peaks explains its edges
    y = y + np.random.default_rng(8).normal(0, 1e-3, x.size)
    result = fit(y, x, model=broad, fwhm=2.0, baseline="none")
    assert result.unexplained and result.windows.unexplained.any()


# ------------------------------------------------------------------ real spectra

def _fit_file(data_dir, name, broad, **options):
    return fit(peakflow.read_spectrum(data_dir / name), model=broad, **options)


@pytest.mark.parametrize("name, tolerance", [("Gauss1", 1.5), ("Gauss2", 1.5), ("Gauss3", 3.0)])
def test_nist_gauss_centres_match_the_certified_values(data_dir, broad, name, tolerance):
    result = _fit_file(data_dir, f"nist_strd/{name}.dat", broad)
    certified = references(data_dir)[f"nist_strd/{name}.dat"]
    big = np.argsort(result.peaks.area)[::-1][:2]  # the two largest peaks
    found = np.sort(result.peaks.location[big])
    np.testing.assert_allclose(found, [c for _, c in certified], atol=tolerance)


def test_lab6_k_alpha_doublets_are_resolved(data_dir, broad):
    name = "xrd_lab6/LaB6_d500_si_psd.xye"
    result = _fit_file(data_dir, name, broad, x_range=(20, 56))
    rows = report(result, references(data_dir)[name][:12])  # (100) .. (211)
    assert doublets_resolved(rows, tolerance=0.02) == (6, 6)


@pytest.mark.parametrize("mineral, bands", [
    ("Quartz__R040031", [453, 694, 777, 797, 1163]),
    ("Calcite__R050048", [712, 872, 1795, 2515]),
    ("Calcite__R040070", [712, 872, 1795, 2515]),
])
def test_rruff_ir_bands_are_found(data_dir, broad, mineral, bands):
    (path,) = (data_dir / "rruff_ir").glob(f"{mineral}*.txt")
    result = _fit_file(data_dir, path.relative_to(data_dir), broad)
    rows = report(result, [(str(b), float(b)) for b in bands])
    assert max(abs(r["error"]) for r in rows) < 5.0
    assert len({r["index"] for r in rows}) == len(bands)  # 777/797 are two peaks


def test_non_numeric_and_empty_spectra_are_named(broad):
    with pytest.raises(TypeError, match="y must be a 1-D array of real numbers"):
        fit(["a"] * 10, np.arange(10.0), model=broad)
    with pytest.raises(ValueError, match="at least 8 points, got 0"):
        fit([], [], model=broad)
    fits = fit_many([(["a"] * 10, np.arange(10.0))], model=broad)
    assert "real numbers" in fits[0].error and fits[0].x.size == 0
    with pytest.raises(ValueError, match="baseline must be one of"):
        fit(np.ones(20), np.arange(20.0), model=broad, baseline="polynomial")


def test_spectra_of_new_lengths_compile_a_bounded_set_of_programs(broad):
    """Preparation and assembly run in numpy, the batched arPLS pads every grid to a length
    bucket and the refinement pads each window's data points to W·2^k: a spectrum of a new
    length compiles nothing once its two buckets have been seen (XLA compilations are
    counted through `jax.monitoring`)."""
    import jax

    from peakflow.measured.arpls import padded_length
    from peakflow.measured.prepare import prepare_many
    from peakflow.measured.refine import points_bucket

    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compiled.append(event)
        if event == "/jax/core/compile/backend_compile_duration" else None)
    rng = np.random.default_rng(21)
    spectra = [realistic_spectrum(rng)[:2] for _ in range(8)]
    prepared = prepare_many(spectra, broad.config.sim, [FitOptions()] * len(spectra))
    buckets = [(padded_length(p.grid.size),
                points_bucket(p.points.omega.shape[1], broad.num_points)) for p in prepared]
    fit(*spectra[0], model=broad)
    seen = {buckets[0]}
    for (y, x), bucket in zip(spectra[1:], buckets[1:]):
        before = len(compiled)
        fit(y, x, model=broad)
        if bucket in seen:
            assert len(compiled) == before
        seen.add(bucket)
    assert len({y.size for y, _ in spectra}) == 8 and len(seen) < 8


def test_random_mixes_of_counts_and_lengths_run_only_the_fixed_set_of_programs(broad):
    """Whatever a call's mix of spectrum lengths and counts, every program of the measured
    path has its batch rows from the fixed ladders (`peakflow.core.buckets`): the policy's
    chunk and step rows from ``ladder(CHUNK_SIZE)``, the refinement's from
    ``ladder(refine.CHUNK)`` with peak slots from its buckets and points W/2 or W, arPLS's rows
    from `ROW_SIZES`; so the programs met are a subset of a finite set, however many mixes."""
    from peakflow.core.buckets import ladder
    from peakflow.measured import refine
    from peakflow.measured.arpls import ROW_SIZES
    from peakflow.runtime.saved_programs import programs_met
    from peakflow.runtime.trained import CHUNK_SIZE

    rng = np.random.default_rng(8)
    for count, longest in ((rng.integers(1, 13), 4000), (rng.integers(1, 13), 4000), (40, 800)):
        lengths = rng.integers(150, longest, size=int(count))   # the last: ~1-2 windows each
        fit_many([realistic_spectrum(rng, (int(n), int(n) + 1), (1, 6))[:2] for n in lengths],
                 model=broad)
    met = programs_met()
    policy, windows = set(ladder(CHUNK_SIZE)), set(ladder(refine.CHUNK))
    assert met["advance_rows"] and met["refine_first"] and met["refine_more"]
    for shapes in met["advance_rows"]:          # (params..., residual, noise, rows)
        assert shapes[-3][0] in policy and shapes[-1][0] in policy
    for name, at in (("refine_first", 2), ("refine_more", 3)):   # (u, mask, [χ²,] omega, ...)
        for shapes in met[name]:
            assert shapes[0][0] in windows and shapes[0][1] in refine.BUCKETS
            assert shapes[at][1] in (broad.num_points // 2, broad.num_points)
    for shapes in met.get("arpls_iterate", []):  # (y (length, rows), ...)
        assert shapes[0][1] in ROW_SIZES


def test_fits_go_into_one_dataframe(broad):
    import pandas as pd

    from peakflow import fits_to_dataframe

    spectra = [realistic_spectrum(np.random.default_rng(s))[:2] for s in (21, 22)]
    fits = fit_many(spectra + [(np.full(50, np.nan), np.arange(50.0))], model=broad,
                    names=["a", None, "bad"])
    one = fits[0].to_dataframe()
    assert isinstance(one, pd.DataFrame) and len(one) == fits[0].num_peaks
    np.testing.assert_array_equal(one["location"], fits[0].peaks.location)
    np.testing.assert_array_equal(one["area_sd"], fits[0].peaks.area_sd)
    assert set(one["spectrum"]) == {"a"}
    table = fits_to_dataframe(fits)
    assert len(table) == fits[0].num_peaks + fits[1].num_peaks  # the failed fit adds no rows
    assert list(table["spectrum"].unique()) == ["a", 1]
    assert {"location", "location_sd", "fwhm", "amplitude", "probability", "window",
            "unexplained", "chi2"} <= set(table.columns)


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_intensities_of_any_magnitude_give_the_same_peaks(broad, factor):
    y, x, _ = realistic_spectrum(np.random.default_rng(5))
    base, scaled = fit(y, x, model=broad), fit(y * factor, x, model=broad)
    assert scaled.num_peaks == base.num_peaks > 5
    np.testing.assert_allclose(scaled.peaks.location, base.peaks.location, rtol=1e-6)
    np.testing.assert_allclose(scaled.peaks.amplitude, factor * base.peaks.amplitude, rtol=1e-3)
    np.testing.assert_allclose(scaled.noise, factor * base.noise, rtol=1e-6)


def test_integer_counts_are_not_taken_for_noise_free_data(broad):
    rng = np.random.default_rng(8)
    x = np.arange(600.0)
    rate = 0.3 + 40 * np.exp(-0.5 * ((x - 300) / 4) ** 2)       # mostly 0 or 1 counts
    counts = rng.poisson(rate)
    result = fit(counts, x, model=broad)
    assert result.noise > 0.3                                   # was 1e-4: noise became peaks
    # the noise sd is one number per spectrum: at the peak (sd ~6 counts against ~0.6 off it)
    # a shoulder may be added, nothing more
    assert 1 <= result.num_peaks <= 2
    assert np.min(np.abs(result.peaks.location - 300)) < 1


def test_the_sigma_column_of_an_xye_file_is_the_noise(broad, tmp_path):
    y, x, truth = realistic_spectrum(np.random.default_rng(7))
    path = tmp_path / "scan.xye"
    np.savetxt(path, np.c_[x, y, np.full(x.size, 3 * truth.noise[0])])
    told = fit(peakflow.read_spectrum(path), model=broad)
    assert told.noise == pytest.approx(3 * truth.noise[0])
    assert told.num_peaks <= fit(y, x, model=broad).num_peaks    # more noise, no more peaks


@pytest.fixture(scope="module")
def original(broad_model):
    y, x, truth = realistic_spectrum(np.random.default_rng(3), points=(2000, 2000),
                                     peaks=(6, 6), min_gap=2.0)
    order = np.argsort(x)
    x, y = x[order], y[order]
    return x, y, truth, fit(y, x, model=broad_model)


def test_an_interpolated_spectrum_gives_the_original_peaks(original, broad_model):
    x, y, truth, base = original
    assert base.num_peaks == truth.location.size == 6
    fine = np.linspace(x[0], x[-1], (x.size - 1) * 100 + 1)          # 199,901 points
    over = fit(np.interp(fine, x, y), fine, model=broad_model)
    assert over.num_peaks == base.num_peaks                         # was ~200 noise peaks
    np.testing.assert_array_less(np.abs(over.peaks.location - base.peaks.location),
                                 0.5 * base.peaks.location_sd)
    np.testing.assert_allclose(over.peaks.location_sd, base.peaks.location_sd, rtol=0.2)
    assert over.noise == pytest.approx(base.noise, rel=0.3)


def test_a_smoothed_spectrum_gives_the_true_peaks(original, broad_model):
    x, y, truth, _ = original
    smoothed = fit(ndimage.gaussian_filter1d(y, 1.5), x, model=broad_model)
    assert smoothed.num_peaks == 6                                  # was 66 at sigma = 2
    assert len(match(smoothed, truth)[0]) == 6


def test_an_axis_column_read_as_intensity_is_refused_by_fit_and_by_that_item_of_fit_many(
        tmp_path, broad_model):
    x = np.linspace(400.0, 1800.0, 600)
    y = 5 + 100 * np.exp(-0.5 * ((x - 1000) / 5) ** 2)
    body = "Pixel,Wavelength,Intensity\n" + "".join(
        f"{i},{536 + 0.1 * i},{v}\n" for i, v in enumerate(y))
    (tmp_path / "t.csv").write_text(body)
    wrong = peakflow.read_spectrum(tmp_path / "t.csv", x="Pixel", y="Wavelength")
    with pytest.raises(ValueError, match="smooth monotone ramp.*y = 'Wavelength'"):
        fit(wrong, model=broad_model)
    right = peakflow.read_spectrum(tmp_path / "t.csv")
    good, bad = fit_many([right, wrong], model=broad_model)
    assert good.error is None and good.num_peaks >= 1 and "Wavelength" in good.meta["x_label"]
    assert bad.error is not None and "axis column read as intensity" in bad.error
    assert good.meta["columns_chosen"].startswith("x = 'Wavelength', y = 'Intensity'")
