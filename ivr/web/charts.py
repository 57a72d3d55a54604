"""Small server-rendered SVG charts (no JavaScript, no fonts or files from the internet).

Each function returns markup ready to place in a page; every label is escaped.
"""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1f6f8b", "#e07a1f", "#3a9d5d", "#b23a48", "#7a5195", "#8d99ae", "#c9a227", "#2b2d42")


def _fmt(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".")


def column_chart(points: list[tuple[str, int]], *, title: str, width: int = 1000, height: int = 230) -> Markup:
    """Vertical bars (e.g. calls per day); every label is shown when few, else every n-th."""
    top, bottom, left, right = 16, 34, 8, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, v in points), default=0) or 1
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    every = max(1, round(n / 10))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>",
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#999"/>']
    for i, (label, value) in enumerate(points):
        h = plot_h * value / peak
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{PALETTE[0]}">'
                     f"<title>{escape(label)}: {_fmt(value)}</title></rect>")
        if value:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" font-size="12" text-anchor="middle">'
                         f"{_fmt(value)}</text>")
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 18}" font-size="12" text-anchor="middle">'
                         f"{escape(label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_list(items: list[tuple[str, int]], *, title: str, width: int = 340) -> Markup:
    """Horizontal bars with their label and count (outcomes, follow-ups by reason)."""
    row_h, label_w, pad = 24, 170, 6
    height = max(1, len(items)) * row_h + pad
    peak = max((v for _, v in items), default=0) or 1
    bar_space = width - label_w - 50
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    if not items:
        parts.append(f'<text x="4" y="{row_h - 8}" font-size="13">Belum ada data</text>')
    for i, (label, value) in enumerate(items):
        y = pad + i * row_h
        w = bar_space * value / peak
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="0" y="{y + 14}" font-size="13">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row_h - 8}" fill="{color}">'
                     f"<title>{escape(label)}: {_fmt(value)}</title></rect>")
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="13">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bar(parts_in: list[tuple[str, int]], *, title: str, width: int = 340) -> Markup:
    """One 100% bar split into shares, with a legend (keypad vs speech)."""
    total = sum(v for _, v in parts_in)
    height = 34 + 20 * max(1, len(parts_in))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    x = 0.0
    for i, (label, value) in enumerate(parts_in):
        w = width * value / total if total else 0
        color = PALETTE[i % len(PALETTE)]
        if w:
            parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="24" fill="{color}">'
                         f"<title>{escape(label)}: {_fmt(value)}</title></rect>")
        x += w
        share = f"{100 * value / total:.0f}%" if total else "-"
        y = 30 + 20 * i
        parts.append(f'<rect x="0" y="{y + 3}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="18" y="{y + 13}" font-size="13">{escape(label)}: {share} ({_fmt(value)})</text>')
    if not parts_in:
        parts.append('<text x="4" y="44" font-size="13">Belum ada data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
