"""Peak matching and the K confusion matrix (`peakflow.metrics`)."""

import numpy as np

from peakflow.metrics import confusion_matrix, match_peaks


def test_match_peaks_and_confusion():
    true = np.array([[10.0, 200.0, 0.0]])
    mask = np.array([[True, True, False]])
    est = np.array([[201.0, 12.0, np.nan]])
    np.testing.assert_array_equal(match_peaks(true, mask, est), [[1, 0, -1]])
    # with a distance limit: the near pair is kept even where a far pairing sums lower
    est = np.array([[11.0, 260.0, np.nan]])
    np.testing.assert_array_equal(match_peaks(true, mask, est, max_distance=5.0), [[0, -1, -1]])
    np.testing.assert_array_equal(match_peaks(true, mask, est), [[0, 1, -1]])
    matrix = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 2)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
