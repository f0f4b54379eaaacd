"""HTML reports: a batch of fits (`report`) or a map's bands (`map_report`) on one
self-contained page that opens in any browser without a server or network access."""

from peakflow.reports.fits_page import report
from peakflow.reports.map_page import map_report

__all__ = ["map_report", "report"]
