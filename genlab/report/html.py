"""A small HTML page builder: sections, tables, embedded PNGs. Everything is escaped."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Iterable, Sequence

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:8px 0 2px} h2{font-size:19px;margin:34px 0 10px;border-bottom:2px solid #dfe3ea;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px} .sub{color:#5a6273;margin-bottom:14px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0001;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #e1e5ec;padding:5px 9px;text-align:left;vertical-align:top}
th{background:#eef1f6;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.best td{background:#eaf7ee} .ci{color:#6b7385;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px} .charts figure{margin:0;background:#fff;padding:8px;box-shadow:0 1px 2px #0001}
figure img{max-width:100%;height:auto;display:block} figcaption{color:#5a6273;font-size:12px;margin-top:4px}
pre{background:#1f2430;color:#e6e9ef;padding:12px;overflow:auto;font-size:12px;border-radius:4px}
.example{background:#fff;box-shadow:0 1px 2px #0001;padding:10px 14px;margin:10px 0}
.example .input{white-space:pre-wrap;font-size:12px;color:#39404f;max-height:180px;overflow:auto;background:#f3f5f8;padding:6px}
.out{white-space:pre-wrap} .pos{color:#137333} .neg{color:#b3261e} .muted{color:#6b7385}
details summary{cursor:pointer;color:#2a5bd7}
"""


def esc(x: object) -> str:
    return html.escape("" if x is None else str(x))


def png_data_uri(source: bytes | str | Path | object) -> str:
    """A PNG as a data URI, from bytes, a file path, or a matplotlib figure."""
    if hasattr(source, "savefig"):
        buf = io.BytesIO()
        source.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        data = buf.getvalue()
        import matplotlib.pyplot as plt

        plt.close(source)  # pyplot keeps every figure alive until closed: a long session would pile them up
    elif isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    else:
        data = bytes(source)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img_tag(source, alt: str, caption: str | None = None) -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{png_data_uri(source)}" alt="{esc(alt)}">{cap}</figure>'


class Page:
    """Accumulates sections; ``render()`` returns one self-contained HTML document."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title, self.subtitle = title, subtitle
        self.parts: list[str] = []

    def h2(self, text: str, anchor: str | None = None) -> "Page":
        self.parts.append(f'<h2 id="{esc(anchor or text.lower().replace(" ", "-"))}">{esc(text)}</h2>')
        return self

    def h3(self, text: str) -> "Page":
        self.parts.append(f"<h3>{esc(text)}</h3>")
        return self

    def p(self, text: str, cls: str = "") -> "Page":
        self.parts.append(f'<p class="{cls}">{esc(text)}</p>')
        return self

    def raw(self, markup: str) -> "Page":
        self.parts.append(markup)
        return self

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str = "",
              row_classes: Sequence[str] | None = None) -> "Page":
        """Cells are escaped unless given as ``Markup`` (an already-safe string)."""
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = []
        for i, row in enumerate(rows):
            rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
            body.append(f"<tr{rc}>" + "".join(_cell(v) for v in row) + "</tr>")
        self.parts.append(f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
        return self

    def charts(self, figures: list[str]) -> "Page":
        self.parts.append('<div class="charts">' + "".join(figures) + "</div>")
        return self

    def pre(self, text: str) -> "Page":
        self.parts.append(f"<pre>{esc(text)}</pre>")
        return self

    def render(self) -> str:
        sub = f'<div class="sub">{esc(self.subtitle)}</div>' if self.subtitle else ""
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(self.title)}</title>'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
                f"<body><main><h1>{esc(self.title)}</h1>{sub}{''.join(self.parts)}</main></body></html>")

    def write(self, path: str | Path) -> Path:
        from genlab.io import atomic_write_text

        return atomic_write_text(path, self.render())


class Markup(str):
    """A string that is already HTML (not escaped again)."""


def _cell(v: object) -> str:
    if isinstance(v, Markup):
        return f"<td>{v}</td>"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td class="num">{esc(_num(v))}</td>'
    return f"<td>{esc(v)}</td>"


def _num(v: float) -> str:
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
