"""Render report pages (lists of blocks) as Markdown and HTML, and tables also as LaTeX.

A page is a list of blocks: Heading, Text, Links, Image or a tables.Table. Every renderer walks the
same blocks, so a table looks the same in each format.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.report.tables import Table


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str


@dataclass
class Links:
    """A line of links: (label, href relative to the page)."""

    items: list[tuple[str, str]]


@dataclass
class Image:
    src: str
    alt: str


Block = Heading | Text | Links | Image | Table

_STYLE = (
    "body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}caption{font-weight:bold;text-align:left;padding:.3em 0}"
    "th,td{border:1px solid #bbb;padding:.2em .5em}th{background:#eee}td.num{text-align:right}"
    "img{max-width:100%}.note{color:#555;font-size:90%;margin:.2em 0}"
)
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "≈": r"$\approx$", "—": "---", "–": "--", "−": "-",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(char) for char in _LATEX_SPECIAL))


def numeric_columns(table: Table) -> list[bool]:
    """Which columns hold numbers (every cell starts with a digit, a sign or "—"): right-aligned."""
    return [
        bool(table.rows) and all(re.match(r"[-−—\d.]", row[j] or "—") for row in table.rows)
        for j in range(len(table.columns))
    ]


def _markdown_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    rule = ["---:" if numeric else "---" for numeric in numeric_columns(table)]
    lines = [f"**{table.title}**", "", line(table.columns), "|" + "|".join(rule) + "|"]
    lines += [line(row) for row in table.rows]
    lines += [""] + [f"*{note}*  " for note in table.notes]
    return "\n".join(lines)


def markdown(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Text):
            parts.append(block.text)
        elif isinstance(block, Links):
            parts.append(" · ".join(f"[{label}]({href})" for label, href in block.items))
        elif isinstance(block, Image):
            parts.append(f"![{block.alt}]({block.src})")
        else:
            parts.append(_markdown_table(block))
    return "\n\n".join(parts) + "\n"


def _html_table(table: Table) -> str:
    opening = ['<td class="num">' if numeric else "<td>" for numeric in numeric_columns(table)]
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = "".join(
        "<tr>" + "".join(f"{opening[j]}{html.escape(cell)}</td>" for j, cell in enumerate(row)) + "</tr>\n"
        for row in table.rows
    )
    notes = "".join(f'<p class="note">{html.escape(note)}</p>\n' for note in table.notes)
    return (
        f"<table><caption>{html.escape(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}</tbody></table>\n{notes}"
    )


def page_html(title: str, blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Links):
            links = " · ".join(f'<a href="{html.escape(href)}">{html.escape(label)}</a>' for label, href in block.items)
            parts.append(f"<p>{links}</p>")
        elif isinstance(block, Image):
            parts.append(f'<p><img src="{html.escape(block.src)}" alt="{html.escape(block.alt)}"></p>')
        else:
            parts.append(_html_table(block))
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def latex_escape(text: str) -> str:
    return _LATEX_PATTERN.sub(lambda match: _LATEX_SPECIAL[match.group()], text)


def table_latex(table: Table) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    spec = "".join("r" if numeric else "l" for numeric in numeric_columns(table))
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}", r"\small"]
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(map(latex_escape, table.columns)) + r" \\"]
    lines += [r"\midrule"] + [" & ".join(map(latex_escape, row)) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize {latex_escape(note)}" for note in table.notes]
    return "\n".join(lines + [r"\end{table}"]) + "\n"


def write_table(table: Table, folder: Path) -> list[Path]:
    """``folder/<name>.md``, ``.html`` and ``.tex``; returns the three paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{table.name}.{suffix}" for suffix in ("md", "html", "tex")]
    paths[0].write_text(markdown([table]), encoding="utf-8")
    paths[1].write_text(page_html(table.title, [table]), encoding="utf-8")
    paths[2].write_text(table_latex(table), encoding="utf-8")
    return paths


def write_page(stem: Path, title: str, blocks: list[Block]) -> list[Path]:
    """``<stem>.md`` (with ``title`` as its heading) and ``<stem>.html``; returns both paths."""
    paths = [stem.with_suffix(".md"), stem.with_suffix(".html")]
    paths[0].write_text(markdown([Heading(title, 1), *blocks]), encoding="utf-8")
    paths[1].write_text(page_html(title, [Heading(title, 1), *blocks]), encoding="utf-8")
    return paths
