"""lmfit least squares from `find_peaks` guesses (`peakflow.reference.lsq`)."""

from peakflow.reference import fit_lsq


def test_lsq_recovers_an_easy_spectrum(easy, assert_recovers):
    x, k = easy
    fit = fit_lsq(x, k, slots=4)
    assert_recovers(fit.value, fit.stderr)
