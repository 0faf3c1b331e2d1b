"""The report's tables as one model (title, columns, rows of text cells, notes); render.py writes it
as Markdown, HTML and LaTeX.

Cells read "mean ± std" over seeds (std: sample standard deviation, n − 1; the mean alone for one
seed; "—" for none). Each configuration of a method is its own row, non-optimal runs apart unless
asked, with marks and notes (see ``report.marks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from benchmark.report import paper
from benchmark.report.marks import LEAKAGE, NOT_OPTIMAL, labelled, notes, split_rows

#: Table 1 rows: method tag -> the paper's label, in the paper's order.
TABLE1_METHODS = {
    "position": "Position only",
    "reid": "Pos. & Re-ID Emb.",
    "autoencoder": "Pos. & A.E. Emb.",
    "attrackt": "Pos. & Unsup. Assoc. (Attrackt)",
    "supervised": "Pos. & Sup. Assoc.",
}
#: Table 1 columns: (label, metric name, decimals).
TABLE1_METRICS = [
    ("AOGM", "AOGM", 1),
    ("MBC", "MBC", 3),
    ("Div F1", "Division F1", 3),
    ("TRA", "TRA", 3),
    ("TP div", "TP divisions", 1),
    ("FP div", "FP divisions", 1),
    ("FN div", "FN divisions", 1),
    ("WS edges", "ws_edges", 1),
    ("FP edges", "fp_edges", 1),
    ("FN edges", "fn_edges", 1),
]
#: Fine-tuning rows: method tag -> initialisation label.
INITS = {"finetune": "pre-trained (LoRA)", "scratch": "from scratch"}
SETUPS = ("interpolation", "extrapolation")
#: Longest text kept from a run's error tag.
ERROR_CHARS = 300
STD_NOTE = "mean ± std over seeds (sample std); n = number of seeds."


@dataclass
class Table:
    """A table to render: ``name`` is the file stem, cells are final text."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def mean_std(values: pd.Series, decimals: int) -> str:
    """ "mean ± std" of the non-missing values, the mean alone for one value, "—" for none."""
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return f"{values.mean():.{decimals}f}"
    return f"{values.mean():.{decimals}f} ± {values.std():.{decimals}f}"


def group_label(dataset: str, profile: str) -> str:
    return f"{dataset} ({profile} profile)"


def k_order(k: str) -> tuple[int, int, str]:
    """Sort key of k values: numbers ascending, then "all", then anything else."""
    return (0, int(k), "") if k.isdigit() else (1, int(k != "all"), k)


def table1(runs: pd.DataFrame, dataset: str, profile: str, name: str, include_non_optimal: bool = False) -> Table:
    """Table 1 of one dataset and profile: the five methods (each configuration a row), with the paper's
    numbers beside ours where the dataset is one of the paper's."""
    reference = paper.TABLE1.get(paper.paper_key(dataset) or "")
    method_rows = {method: split_rows(runs[runs["method"] == method], include_non_optimal) for method in TABLE1_METHODS}
    differs = _with_differs(row for rows in method_rows.values() for row in rows)
    columns, rows = ["Method", *(["Differs"] if differs else []), "n"], []
    for label, metric, _ in TABLE1_METRICS:
        columns += [label, f"{label} paper"] if reference and metric in reference["position"] else [label]
    for method, label in TABLE1_METHODS.items():
        for group in method_rows[method]:
            chosen = group.runs
            row = [labelled(label, group.marks), *([group.differs] if differs else []), str(chosen["seed"].nunique())]
            for _, metric, decimals in TABLE1_METRICS:
                row.append(mean_std(chosen[metric] if metric in chosen else pd.Series(dtype=float), decimals))
                if reference and metric in reference[method]:
                    row.append(f"{reference[method][metric]:.{decimals}f}")
            rows.append(row)
    source = (
        "paper: Table 1 of the paper, mean of 10 runs."
        if reference
        else f"The paper's numbers do not apply: {dataset!r} is not one of the paper's datasets (hela, bacteria)."
    )
    chosen = runs[runs["method"].isin(list(TABLE1_METHODS))]
    return Table(name, f"Table 1 — {group_label(dataset, profile)}", columns, rows,
                 [STD_NOTE, source, *notes(chosen, include_non_optimal)])


def finetune_table(runs: pd.DataFrame, dataset: str, profile: str, name: str, include_non_optimal: bool = False) -> Table:
    """AOGM by setup x sampling x initialisation (rows, each configuration apart) and k (columns),
    fine-tuned and from scratch; for the paper's datasets the paper's Figure 2 values (interpolation)
    are added as rows."""
    chosen = runs[runs["method"].isin(INITS.keys())]
    ks = sorted(chosen["k"].unique(), key=k_order)
    groups = []
    combos = chosen.groupby(["setup", "sampling", "method"], sort=False).size().index
    for setup, sampling, method in sorted(combos, key=lambda c: (_index(SETUPS, c[0]), c[1], _index(tuple(INITS), c[2]))):
        cells = chosen[(chosen["setup"] == setup) & (chosen["sampling"] == sampling) & (chosen["method"] == method)]
        groups += [(setup, sampling, method, row) for row in split_rows(cells, include_non_optimal) if len(row.runs)]
    differs = _with_differs(row for *_, row in groups)
    rows = []
    for setup, sampling, method, group in groups:
        seeds = group.runs.groupby("k")["seed"].nunique()
        n = str(seeds.min()) if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
        rows.append([setup, sampling, labelled(INITS[method], group.marks), *([group.differs] if differs else []), n]
                    + [mean_std(group.runs.loc[group.runs["k"] == k, "AOGM"], 1) for k in ks])
    key = paper.paper_key(dataset)
    table_notes = [STD_NOTE, *notes(chosen, include_non_optimal)]
    for sampling, values in paper.FIGURE2_INTERPOLATION.get(key or "", {}).items():
        rows.append(["interpolation", sampling, "paper (Fig. 2)", *([""] if differs else []), ""]
                    + [_paper_value(values.get(k)) for k in ks])
    if key:
        table_notes.append(
            "paper: Figure 2 read off the plot (±3 %); extrapolation with all annotations "
            f"≈ {paper.EXTRAPOLATION_ALL[key]:g}."
        )
    counts = chosen[chosen["k"] == "all"].groupby("setup")["annotations"].mean().dropna()
    if len(counts):
        ordered = sorted(counts.items(), key=lambda item: _index(SETUPS, item[0]))
        table_notes.append("k = all: " + ", ".join(f"{count:.0f} annotations ({setup})" for setup, count in ordered) + ".")
    columns = ["Setup", "Sampling", "Init", *(["Differs"] if differs else []), "n"] + [f"k={k}" for k in ks]
    return Table(name, f"AOGM after fine-tuning — {group_label(dataset, profile)}", columns, rows, table_notes)


def _with_differs(rows) -> bool:
    """Whether any of ``rows`` is a variant (then tables get a Differs column)."""
    return any(row.differs for row in rows)


def runs_table(runs: pd.DataFrame) -> Table:
    """Number of finished runs per dataset (and profile) and method, with how many are marked."""
    methods = [method for method in (*TABLE1_METHODS, *INITS) if method in set(runs["method"])]
    rows = []
    for (dataset, profile), group in runs.groupby(["dataset", "profile"]):
        row = [group_label(dataset, profile)]
        for method in methods:
            chosen = group[group["method"] == method]
            marked = [f"{count} {mark}" for mark, count in (
                (NOT_OPTIMAL, int((chosen["optimal"] == "false").sum())), (LEAKAGE, int(chosen["leakage"].sum()))) if count]
            row.append(f"{len(chosen)} ({', '.join(marked)})" if marked else str(len(chosen)))
        rows.append(row)
    note = f"(n {NOT_OPTIMAL}, n {LEAKAGE}): how many of them have links not proven optimal, or trained on their evaluation sequences."
    marked = any(cell.endswith(")") for row in rows for cell in row[1:])
    return Table("runs", "Finished runs used", ["Dataset"] + methods, rows, [note] if marked else [])


def dropped_table(dropped: pd.DataFrame) -> Table:
    """Finished runs left out of the tables and figures, and why."""
    columns = ["run_id", "run_name", "method", "dataset", "seed", "reason"]
    return Table("dropped", "Finished runs left out", columns, [list(map(str, row)) for row in dropped[columns].itertuples(index=False)])


def unfinished_table(runs: pd.DataFrame) -> Table:
    """Runs that did not finish, with their status and error tag."""
    columns = ["run_id", "run_name", "method", "dataset", "status", "error"]
    rows = [[str(value)[:ERROR_CHARS] for value in row] for row in runs[columns].itertuples(index=False)]
    return Table("unfinished", "Failed or unfinished runs", columns, rows)


def _index(order: tuple[str, ...], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _paper_value(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"
