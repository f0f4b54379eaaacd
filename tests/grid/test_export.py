"""A grid posterior as a DataFrame and as ArviZ InferenceData."""

import arviz as az
import jax
import numpy as np


def test_dataframe_has_one_row_per_found_peak(grid_posterior):
    frame = grid_posterior.to_dataframe()
    counts = np.asarray(grid_posterior.num_peaks)
    assert len(frame) == counts[counts > 0].sum()
    first = frame[frame["spectrum"] == 0]
    np.testing.assert_allclose(first["location"], grid_posterior.location.mean[0, :counts[0]])
    np.testing.assert_allclose(first["amplitude_sd"], grid_posterior.amplitude.sd[0, :counts[0]])
    assert (frame["p_num_peaks"] > 0).all() and {"fwhm", "fwhm_sd", "num_peaks"} <= set(frame)


def test_inference_data_works_with_arviz(grid_posterior):
    data = grid_posterior.to_inference_data(400, seed=jax.random.PRNGKey(1))
    post = data.posterior
    n = np.asarray(grid_posterior.num_peaks).size
    assert post["location"].shape[:3] == (1, 400, n) and post["K"].shape == (1, 400, n)
    # the draws' means and sds are the posterior's
    found = int(grid_posterior.num_peaks[0])
    drawn = post["location"].values[0, :, 0, :found]
    np.testing.assert_allclose(drawn.mean(0), grid_posterior.location.mean[0, :found],
                               atol=4 * grid_posterior.location.sd[0, :found].max() / 20)
    assert np.all(np.isnan(post["location"].values[0, :, 0, found:]))
    # K is drawn from P(K): its frequencies follow the stated probabilities
    freq = np.bincount(post["K"].values[0, :, 0], minlength=grid_posterior.k_probs.shape[1])
    np.testing.assert_allclose(freq / 400, grid_posterior.k_probs[0], atol=0.08)
    summary = az.summary(data, var_names=["location"], coords={"spectrum": [0],
                                                                "slot": list(range(found))})
    assert len(summary) == found and np.isfinite(summary["mean"]).all()


def test_a_single_spectrum_is_one_row_of_spectra(default_model, grid_batch):
    import peakflow

    single = peakflow.infer(np.asarray(grid_batch.spectrum[0]), model=default_model)
    data = single.to_inference_data(50)
    assert data.posterior["amplitude"].shape[:3] == (1, 50, 1)
    assert len(single.to_dataframe()) == int(single.num_peaks)
    import matplotlib.pyplot as plt

    az.plot_posterior(data, var_names=["location"], coords={"spectrum": [0], "slot": [0]})
    plt.close("all")


def test_an_invalid_row_keeps_its_place_and_says_so(default_model, grid_batch):
    import warnings

    import peakflow

    spectra = np.array(grid_batch.spectrum[:3], dtype=np.float64)
    spectra[1, 7] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = peakflow.infer(spectra, model=default_model)
    data = post.to_inference_data(50)
    assert np.all(data.posterior["K"].values[0, :, 1] == -1)
    assert np.all(np.isnan(data.posterior["location"].values[0, :, 1]))
    assert np.all(data.posterior["K"].values[0, :, [0, 2]] >= 0)
    assert 1 not in set(post.to_dataframe()["spectrum"])
