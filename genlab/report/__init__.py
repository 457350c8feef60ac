"""Self-contained HTML reports: charts embedded as data URIs, no network, inline CSS."""

from genlab.report.html import Page, img_tag, png_data_uri

__all__ = ["Page", "img_tag", "png_data_uri"]
