"""The report's tables as one model (title, columns, rows of text cells, notes); render.py writes it
as Markdown, HTML and LaTeX.

Cells read "mean ± std" over seeds (std: sample standard deviation, n − 1; the mean alone for one
seed; "—" for none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from benchmark.report import paper

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


def table1(runs: pd.DataFrame, dataset: str, profile: str, name: str) -> Table:
    """Table 1 of one dataset and profile: the five methods, with the paper's numbers beside ours
    where the dataset is one of the paper's."""
    reference = paper.TABLE1.get(paper.paper_key(dataset) or "")
    columns, rows = ["Method", "n"], []
    for label, metric, _ in TABLE1_METRICS:
        columns += [label, f"{label} paper"] if reference and metric in reference["position"] else [label]
    for method, label in TABLE1_METHODS.items():
        chosen = runs[runs["method"] == method]
        row = [label, str(chosen["seed"].nunique())]
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
    return Table(name, f"Table 1 — {group_label(dataset, profile)}", columns, rows, [STD_NOTE, source])


def finetune_table(runs: pd.DataFrame, dataset: str, profile: str, name: str) -> Table:
    """AOGM by setup x sampling x initialisation (rows) and k (columns), fine-tuned and from scratch;
    for the paper's datasets the paper's Figure 2 values (interpolation) are added as rows."""
    chosen = runs[runs["method"].isin(INITS.keys())]
    ks = sorted(chosen["k"].unique(), key=k_order)
    rows = []
    combos = chosen.groupby(["setup", "sampling", "method"], sort=False).size().index
    for setup, sampling, method in sorted(combos, key=lambda c: (_index(SETUPS, c[0]), c[1], _index(tuple(INITS), c[2]))):
        cells = chosen[(chosen["setup"] == setup) & (chosen["sampling"] == sampling) & (chosen["method"] == method)]
        seeds = cells.groupby("k")["seed"].nunique()
        n = str(seeds.min()) if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
        rows.append([setup, sampling, INITS[method], n] + [mean_std(cells.loc[cells["k"] == k, "AOGM"], 1) for k in ks])
    key = paper.paper_key(dataset)
    notes = [STD_NOTE]
    for sampling, values in paper.FIGURE2_INTERPOLATION.get(key or "", {}).items():
        rows.append(["interpolation", sampling, "paper (Fig. 2)", ""] + [_paper_value(values.get(k)) for k in ks])
    if key:
        notes.append(
            "paper: Figure 2 read off the plot (±3 %); extrapolation with all annotations "
            f"≈ {paper.EXTRAPOLATION_ALL[key]:g}."
        )
    counts = chosen[chosen["k"] == "all"].groupby("setup")["annotations"].mean().dropna()
    if len(counts):
        ordered = sorted(counts.items(), key=lambda item: _index(SETUPS, item[0]))
        notes.append("k = all: " + ", ".join(f"{count:.0f} annotations ({setup})" for setup, count in ordered) + ".")
    columns = ["Setup", "Sampling", "Init", "n"] + [f"k={k}" for k in ks]
    return Table(name, f"AOGM after fine-tuning — {group_label(dataset, profile)}", columns, rows, notes)


def runs_table(runs: pd.DataFrame) -> Table:
    """Number of finished runs per dataset (and profile) and method."""
    counts = runs.groupby(["dataset", "profile", "method"]).size().unstack(fill_value=0)
    methods = [method for method in (*TABLE1_METHODS, *INITS) if method in counts]
    rows = [[group_label(*group)] + [str(counts.loc[group, m]) for m in methods] for group in counts.index]
    return Table("runs", "Finished runs used", ["Dataset"] + methods, rows)


def unfinished_table(runs: pd.DataFrame) -> Table:
    """Runs that did not finish, with their status and error tag."""
    columns = ["run_id", "run_name", "method", "dataset", "status", "error"]
    rows = [[str(value)[:ERROR_CHARS] for value in row] for row in runs[columns].itertuples(index=False)]
    return Table("unfinished", "Failed or unfinished runs", columns, rows)


def _index(order: tuple[str, ...], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _paper_value(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"
