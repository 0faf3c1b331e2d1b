"""Which runs a table row (or figure line) averages, and the marks that say what is special about them.

Runs of one method and settings are split into rows by configuration (column ``config`` of
report.runs): the profile's defaults first (always a row, possibly empty), then each variant, named
by what ``differs``. Marks, each explained by a note under the table:

- † (NOT_OPTIMAL): links not proven optimal (the solver stopped at its time limit with a gap, or
  greedy linking). Such runs form rows of their own, out of the means of the others, unless
  ``include_non_optimal``; then they are averaged in and the row is marked.
- ? (UNKNOWN): runs that do not record whether their links are optimal (made before the suite
  recorded it); averaged with the optimal ones, and marked.
- § (LEAKAGE): runs that trained with ground truth on their evaluation sequences (an explicit
  opt-in, ``data.allow_train_eval_overlap``); their scores are not a test result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

NOT_OPTIMAL, UNKNOWN, LEAKAGE = "†", "?", "§"


@dataclass
class Row:
    """Runs averaged together: of one configuration (``differs`` "" for the profile's defaults), all of
    them, or, when non-optimal runs are kept apart, either only those or only the others."""

    differs: str
    runs: pd.DataFrame

    @property
    def marks(self) -> str:
        return marks_of(self.runs)


def marks_of(runs: pd.DataFrame) -> str:
    """The marks of a set of runs ("" when none applies)."""
    found = [
        (NOT_OPTIMAL, (runs["optimal"] == "false").any()),
        (UNKNOWN, (runs["optimal"] == "unknown").any()),
        (LEAKAGE, runs["leakage"].any()),
    ]
    return "".join(mark for mark, present in found if present)


def labelled(label: str, marks: str) -> str:
    return f"{label} {marks}" if marks else label


def split_rows(runs: pd.DataFrame, include_non_optimal: bool) -> list[Row]:
    """``runs`` (one method and settings) as rows: per configuration, the profile's defaults first, then
    variants in the order of their ``differs``; non-optimal runs in rows of their own unless
    ``include_non_optimal``. The defaults' row is there even without runs."""
    rows = []
    variants = runs.groupby("differs", sort=True) if len(runs) else []
    by_differs = dict(list(variants))
    by_differs.setdefault("", runs.iloc[0:0])
    for differs in sorted(by_differs, key=lambda text: (text != "", text)):
        chosen = by_differs[differs]
        if include_non_optimal:
            rows.append(Row(differs, chosen))
            continue
        apart = chosen["optimal"] == "false"
        if not apart.all() or differs == "":
            rows.append(Row(differs, chosen[~apart]))
        if apart.any():
            rows.append(Row(differs, chosen[apart]))
    return rows


def notes(runs: pd.DataFrame, include_non_optimal: bool) -> list[str]:
    """The notes explaining the marks that occur in ``runs``."""
    texts = []
    if (runs["optimal"] == "false").any():
        texts.append(
            f"{NOT_OPTIMAL} links not proven optimal (the solver stopped at its time limit with a gap, or greedy "
            + ("linking); averaged in as asked (--include-non-optimal)."
               if include_non_optimal else "linking): kept out of the other rows' means (report --include-non-optimal merges them).")
        )
    if (runs["optimal"] == "unknown").any():
        texts.append(f"{UNKNOWN} includes runs that do not record whether their links are optimal (made before the "
                     "suite recorded it, tag linking.optimal).")
    if runs["leakage"].any():
        texts.append(f"{LEAKAGE} trained with ground truth on its evaluation sequences (data.allow_train_eval_overlap): "
                     "the scores are inflated, not a test result.")
    if (runs["differs"] != "").any():
        texts.append("Differs: the fields of a variant's configuration that differ from the profile's defaults; "
                     "each configuration is its own row.")
    return texts
