"""The README's generated tables: rendered from committed results files only (``benchmark.results``).

A generated block in a Markdown file is::

    <!-- BEGIN generated: NAME -->
    ...
    <!-- END generated: NAME -->

and BLOCKS[NAME] says which results files feed it (a glob relative to the project folder; the one
with the latest ``date`` is used) and how its Markdown is made from their rows. Every block ends
with a line naming its file, date, machine, versions and commit. ``render`` gives the text with every
block rendered; ``scripts/render_readme.py`` writes it or checks that the file already equals it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import DataError
from benchmark.report.tables import TABLE1_METHODS, k_order, mean_std
from benchmark.results import read_results

BEGIN = re.compile(r"^<!-- BEGIN generated: (?P<name>[A-Za-z0-9_-]+) -->$", re.MULTILINE)
END = "<!-- END generated: {name} -->"
#: Labels of the annotation-based methods' rows.
TRAINED = {"finetune": "Attrackt fine-tuned", "scratch": "trained from scratch"}


def aogm_by_method(rows: pd.DataFrame) -> str:
    """Mean AOGM (± std over seeds when there are several) by method (rows) and dataset (columns):
    the Table 1 methods, then one row per annotation-based method, sampling and setup with its k
    values side by side ("k = 10 / 100 / all")."""
    datasets = sorted(rows["dataset"].unique())
    lines = ["| method | " + " | ".join(datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for method, label in TABLE1_METHODS.items():
        chosen = rows[rows["method"] == method]
        if len(chosen):
            cells = [mean_std(chosen.loc[chosen["dataset"] == dataset, "AOGM"], 1) for dataset in datasets]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    trained = rows[rows["method"].isin(list(TRAINED))]
    for (method, sampling, setup), chosen in trained.groupby(["method", "sampling", "setup"], sort=False):
        ks = sorted(chosen["k"].unique(), key=k_order)
        label = f"{TRAINED[method]}, k = {' / '.join(ks)}, {sampling} sampling, {setup}"
        cells = [
            " / ".join(mean_std(chosen.loc[(chosen["dataset"] == dataset) & (chosen["k"] == k), "AOGM"], 1) for k in ks)
            for dataset in datasets
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_note(rows: pd.DataFrame) -> str:
    seeds = sorted(rows["seed"].unique())
    listed = ", ".join(map(str, seeds))
    return f"seed{'s' if len(seeds) > 1 else ''} {listed}; mean ± sample std over seeds where several"


#: Labels of the ILP benchmark's instances (bench/bench_ilp.py); others are shown by name.
ILP_INSTANCES = {
    "hela": "HeLa-size synthetic",
    "bacteria": "Bacteria-size synthetic",
    "check": "Bacteria-size synthetic, 8 frames",
    "bacteria-w2neg": "Bacteria-size, w2 = −1",
    "epithelium-sample0": "epithelium sample0 (dense tissue)",
    "epithelium-sample1": "epithelium sample1 (dense tissue)",
}


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def ilp_table(rows: pd.DataFrame) -> str:
    """One row per instance of bench/bench_ilp.py: detections, frame pairs whose LP is fractional, our
    ILP's time (1 worker) / the whole model's LP relaxation, and HiGHS branch-and-bound on the whole
    model / LP ("> ratio (time limit)" where it stopped at its limit: a lower bound)."""
    lines = [
        "| instance | detections | fractional frame pairs | our ILP / its LP | whole-model branch-and-bound / LP |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows.to_dict("records"):
        bnb = "—"
        if pd.notna(row.get("bnb_whole_over_lp")):
            bnb = _ratio(row["bnb_whole_over_lp"])
            if row.get("bnb_whole_status") == "time_limit":
                bnb = f"> {bnb} (time limit"
                difference = row.get("objective_difference_vs_bnb")
                if pd.notna(difference) and difference < 0:  # minimised: its best solution is worse
                    bnb += f"; its best solution {-difference:.2f} worse"
                bnb += ")"
            elif row.get("bnb_whole_status") != "optimal":
                bnb += f" ({row.get('bnb_whole_status')})"
        lines.append(
            f"| {ILP_INSTANCES.get(row['instance'], row['instance'])} | {row['nodes']:,} "
            f"| {row['fractional_frame_pairs']} of {row['frame_pairs']} | {_ratio(row['ilp_over_lp'])} | {bnb} |"
        )
    return "\n".join(lines)


def ilp_note(rows: pd.DataFrame) -> str:
    return "best of the interleaved LP / ILP solves, one HiGHS thread per solve, our ILP with 1 worker"


def backbone_table(rows: pd.DataFrame) -> str:
    """bench/bench_backbone.py: per profile and measure (training on a batch, whole-sequence inference
    with or without TTA), the seconds of ours and of Trackastra's model and Trackastra's time / ours."""
    lines = [
        "| profile | measure | ours (s) | Trackastra (s) | Trackastra / ours |",
        "|---|---|---:|---:|---:|",
    ]
    def windows(row: dict[str, Any]) -> str:
        count = int(row["windows"])
        return f"{count} window{'s' if count != 1 else ''}"

    for row in rows.to_dict("records"):
        if row["measure"] == "training":
            what = f"training step, {row['batch']} batch ({windows(row)})"
        elif row["measure"] == "inference":
            tta = " with TTA" if row.get("tta") is True else ""
            what = f"inference{tta}, {int(row['frames'])} frames ({windows(row)})"
        else:
            what = str(row["measure"])
        lines.append(
            f"| {row['profile']} | {what} | {row['ours_s']:.2f} | {row['trackastra_s']:.2f} | {row['ratio']:.2f}× |"
        )
    return "\n".join(lines)


def backbone_note(rows: pd.DataFrame) -> str:
    devices = ", ".join(sorted(set(map(str, rows["device"]))))
    threads = ", ".join(map(str, sorted(rows["threads"].unique())))
    notes = "; ".join(f"{profile}: {note}" for (profile, note), _ in rows.groupby(["profile", "note"], sort=False))
    return f"{devices}, {threads} thread{'s' if threads != '1' else ''}; {notes}"


@dataclass(frozen=True)
class BlockSpec:
    """Where a block's numbers come from and how its Markdown is made from their rows."""

    source: str  # glob of results files, relative to the project folder
    table: Callable[[pd.DataFrame], str]
    note: Callable[[pd.DataFrame], str] = seeds_note


#: The README's generated blocks.
BLOCKS: dict[str, BlockSpec] = {
    "main-job": BlockSpec("results/quick-2*.json", aogm_by_method),  # benchmark/grids/quick.yaml
    "three-seeds": BlockSpec("results/quick-seeds-2*.json", aogm_by_method),  # benchmark/grids/quick-seeds.yaml
    "ilp": BlockSpec("bench/results/ilp-2*.json", ilp_table, ilp_note),  # bench/bench_ilp.py
    "backbone": BlockSpec("bench/results/backbone-2*.json", backbone_table, backbone_note),  # bench/bench_backbone.py
}


def latest_results(root: Path, pattern: str) -> tuple[Path, dict[str, Any]]:
    """The results file matching ``pattern`` under ``root`` with the latest date (of files with the same
    date, the last by name); DataError when none."""
    found = [(path, read_results(path)) for path in sorted(Path(root).glob(pattern))]
    if not found:
        raise DataError(Path(root) / pattern, "no committed results file matches: export the results first "
                        "(scripts/export_results.py) and commit them")
    return max(found, key=lambda item: (pd.Timestamp(item[1]["date"]), item[0].name))


def provenance_line(path: Path, results: dict[str, Any], root: Path) -> str:
    machine, versions = results["machine"], results["versions"]
    hardware = f"{machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} cores, GPU {machine.get('gpu', 'none')}"
    software = ", ".join(f"{name} {versions[name]}" for name in ("python", "torch") if name in versions)
    return (
        f"Source: [{path.relative_to(root).as_posix()}]({path.relative_to(root).as_posix()}), measured "
        f"{results['date']} on {hardware} ({software}), commit {results.get('git_commit', 'unknown')[:12]}"
    )


def render_block(name: str, root: Path) -> str:
    """The Markdown of block ``name`` (a key of BLOCKS), without its markers."""
    spec = BLOCKS[name]
    path, results = latest_results(root, spec.source)
    rows = pd.DataFrame(results["rows"])
    return f"{spec.table(rows)}\n\n{provenance_line(path, results, root)}; {spec.note(rows)}."


def render(text: str, root: Path, where: Path) -> str:
    """``text`` (the content of the file ``where``) with every generated block rendered from the
    results files under ``root``; DataError naming ``where`` and the line of a block without its end."""
    parts, position = [], 0
    for begin in BEGIN.finditer(text):
        name, line = begin["name"], text.count("\n", 0, begin.start()) + 1
        if begin.start() < position:
            raise DataError(where, f"generated block {name!r} begins inside another one", line)
        if name not in BLOCKS:
            raise DataError(where, f"unknown generated block {name!r} (known: {', '.join(BLOCKS)})", line)
        end = text.find(END.format(name=name), begin.end())
        if end < 0:
            raise DataError(where, f"generated block {name!r} has no line {END.format(name=name)!r}", line)
        parts += [text[position : begin.end()], "\n", render_block(name, root), "\n"]
        position = end
    return "".join(parts) + text[position:]
