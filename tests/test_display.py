"""Display pieces: numbers with their sds, HTML tables, figures as embedded PNGs."""

import base64

import matplotlib.pyplot as plt
import pytest

from peakflow.display import cell, plus_minus, png_uri, table


@pytest.mark.parametrize("value, sd, shown", [
    (2844.44, 363.0, "2840 ± 360"),
    (0.877543, 0.18, "0.88 ± 0.18"),
    (3869.45, 0.084, "3869.450 ± 0.084"),
    (1004.07, 3.9, "1004.1 ± 3.9"),
    (-12.5, 0.04, "-12.500 ± 0.040"),
    (1.234e-7, 3e-9, "1.234e-07 ± 3.0e-09"),
    (3e12, 2e10, "3.000e+12 ± 2.0e+10"),
    (5.0, 0.0, "5"),                      # no usable sd: the value alone
    (5.0, float("nan"), "5"),
])
def test_a_value_is_shown_to_the_precision_its_sd_allows(value, sd, shown):
    assert plus_minus(value, sd) == shown


def test_tables_escape_their_cells_and_align_numbers():
    html = table(["name", "value"], [["<b>a&b</b>", 1.5], ["c", float("nan")]])
    assert "&lt;b&gt;a&amp;b&lt;/b&gt;" in html and "<b>" not in html
    assert "<td class=num>1.5</td>" in html and "<td class=num>–</td>" in html
    assert html.count("<tr>") == 3 and cell(2) == "2"
    assert "<tbody></tbody>" in table(["a"], [])


def test_a_figure_becomes_a_png_data_uri_and_is_closed():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    uri = png_uri(fig, dpi=40)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
