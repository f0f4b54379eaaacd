"""`peakflow.report`: one self-contained page for a batch of fits."""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import peakflow
from peakflow.experiments.browser import find_chromium, render
from peakflow.experiments.realistic import realistic_spectrum
from peakflow.reports.compact import BUCKETS, extremes, unpack
from peakflow.reports.fits_page import payload

VOID = {"meta", "img", "br", "input", "link", "hr", "col", "wbr", "source"}


class Balanced(HTMLParser):
    """Checks that every element is closed in order; collects external references."""

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_html(text: str) -> Balanced:
    parser = Balanced()
    parser.feed(text)
    parser.close()
    assert text.startswith("<!DOCTYPE html>")
    assert not parser.problems and not parser.stack, (parser.problems, parser.stack)
    assert not parser.external, parser.external          # nothing fetched at view time
    return parser


@pytest.fixture(scope="module")
def fits(broad_model):
    rng = np.random.default_rng(11)
    pairs = [realistic_spectrum(rng, harsh=i == 1)[:2] for i in range(4)]
    x = np.linspace(0, 100, 600)
    pairs.append((2000 * np.exp(-0.5 * ((x - 50) / 20) ** 2) + 1000 * np.sin(x / 3) ** 8, x))
    pairs.append((np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0])))
    names = [f"spectrum_{i}.csv" for i in range(4)] + ["<wavy & odd>.txt", "broken.txt"]
    return peakflow.fit_many(pairs, names=names, model=broad_model)


@pytest.fixture(scope="module")
def page(fits, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert peakflow.report(fits, path) == path
    return path


def test_the_page_is_valid_html_naming_every_file_and_every_flag(page, fits):
    text = page.read_text()
    check_html(text)
    assert all(f.error is None for f in fits[:5]) and fits[5].error
    assert any(f.unexplained for f in fits)
    for fit in fits:
        assert f">{fit.name}<" in text.replace("&lt;wavy &amp; odd&gt;", "<wavy & odd>")
    markup = re.sub(r"<script.*?</script>", "", text, flags=re.S)  # the inert data aside
    assert "&lt;wavy &amp; odd&gt;.txt" in markup and "<wavy" not in markup
    rows = re.findall(r'<tr class="(\w+)" data-i="(\d+)">', text)
    assert len(rows) == len(fits)
    states = [s for s, _ in rows]
    assert states == sorted(states, key=["failed", "flagged", "ok"].index)  # flagged first
    assert dict((int(i), s) for s, i in rows)[5] == "failed"
    assert f"failed: {fits[5].error}" in text
    for i, fit in enumerate(fits):
        if fit.unexplained:
            assert dict((int(j), s) for s, j in rows)[i] == "flagged"


def test_each_fit_carries_its_curves_and_tables(page, fits):
    text = page.read_text()
    blobs = dict(re.findall(r'<script type="application/json" id="pf-(\d+)">(.*?)</script>',
                            text, flags=re.S))
    assert sorted(int(i) for i in blobs) == [i for i, f in enumerate(fits) if f.error is None]
    fit = fits[0]
    data = json.loads(blobs["0"])
    x, y, res = unpack(data["x"]), unpack(data["y"]), unpack(data["res"])
    picked = extremes(fit.y, BUCKETS)
    np.testing.assert_allclose(fit.x[picked], x, atol=data["x"]["s"])
    np.testing.assert_allclose(fit.y[picked], y, atol=data["y"]["s"])
    np.testing.assert_allclose((fit.y - fit.fitted)[picked], res, atol=data["res"]["s"])
    assert np.argmax(y) == np.argmax(fit.y[picked]) and y.max() == pytest.approx(fit.y.max(),
                                                                                   abs=data["y"]["s"])
    assert len(data["comp"]) == fit.num_peaks and data["noise"] == fit.noise
    assert data["tables"].count("<tr>") == fit.num_peaks + 1 + (
        len(fit.bands) + 1 if np.any(fit.bands.components > 1) else 0)


def test_a_report_is_written_whole_or_not_at_all(fits, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("the old report")
    import peakflow.reports.fits_page as fits_page

    def broken(fit):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(fits_page, "payload", broken)
    with pytest.raises(RuntimeError):
        peakflow.report(fits, path)
    assert path.read_text() == "the old report" and list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError, match="no fits"):
        peakflow.report([], path)
    with pytest.raises(ValueError, match="SpectrumFit"):
        peakflow.report([np.zeros(3)], path)


def test_many_peaks_are_marks_not_curves(fits):
    from dataclasses import replace

    import peakflow.reports.fits_page as fits_page

    fit = fits[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fits_page, "MAX_COMPONENTS", 2)
        data = payload(replace(fit))
    assert data["comp"] == [] and len(data["marks"]) == fit.num_peaks


chromium = pytest.mark.skipif(find_chromium() is None, reason="no Chromium installed")


@chromium
def test_a_browser_draws_every_fit_without_console_errors(page, fits, tmp_path):
    shown = render(page.resolve().as_uri() + "?open=all", screenshot=tmp_path / "shot.png")
    assert shown.console == []
    assert shown.ready_ms() is not None
    assert shown.dom.count('class="pf-figure"') == sum(f.error is None for f in fits)
    assert shown.dom.count('class="detail"') == len(fits)
    assert (tmp_path / "shot.png").stat().st_size > 20_000


@chromium
def test_sorting_by_a_column_orders_the_rows_by_its_values(page, fits, tmp_path):
    probe = tmp_path / "probe.html"
    script = ("<script>const th = document.querySelectorAll('#pf-summary th');"
              "th[3].click(); th[3].click();"      # peaks, descending
              "document.body.dataset.order = Array.from(document.querySelectorAll("
              "'#pf-summary tbody tr')).map(r => r.dataset.i).join(',');</script>")
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    shown = render(probe.resolve().as_uri())
    assert shown.console == []
    order = [int(i) for i in re.search(r'data-order="([\d,]+)"', shown.dom).group(1).split(",")]
    peaks = [fits[i].num_peaks for i in order if fits[i].error is None]
    assert peaks == sorted(peaks, reverse=True) and fits[order[-1]].error  # blanks last
