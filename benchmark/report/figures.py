"""Figures 2 and 3: AOGM against the number of annotations k, one panel per dataset (and profile) x
setup, mean over seeds with a ±1 std band.

x is k on a log axis, with "all" placed at the mean annotation count (param ``annotations``) of that
panel's k = all runs; y is AOGM on a symlog axis (log above 1, linear below, so that AOGM = 0 stays
visible). Dashed horizontal lines: the supervised and the unsupervised (Attrackt) AOGM of the dataset
(the profile's default configuration). One line per method x sampling x configuration (variants: other
markers, their differences in the legend); runs whose links are not proven optimal are lines of their
own with hollow markers (†), out of the other means unless ``include_non_optimal``, when they are
averaged in and the points that include them are hollow (see ``report.marks``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from benchmark.report.marks import NOT_OPTIMAL, labelled, marks_of
from benchmark.report.tables import INITS, SETUPS, group_label

#: Reference levels: method -> (legend label, colour).
LEVELS = {"supervised": ("Pos. & Sup. Assoc.", "black"), "attrackt": ("Attrackt (unsupervised)", "tab:red")}
COLOURS = {"confidence": "tab:blue", "random": "tab:orange", "optimal": "tab:green"}
LINESTYLES = {"finetune": "-", "scratch": ":"}
PANEL_KEYS = ["dataset", "profile", "setup"]


#: Markers of a method's configurations: the profile's defaults, then each variant.
MARKERS = ("o", "s", "^", "D", "v", "P")
POINT_COLUMNS = [*PANEL_KEYS, "method", "sampling", "differs", "apart", "k", "x", "mean", "std", "n", "marks"]


def curve_points(runs: pd.DataFrame, include_non_optimal: bool = False) -> pd.DataFrame:
    """AOGM of the finetune and scratch runs per panel, method, sampling, configuration (``differs``),
    optimality (``apart``: the non-optimal runs, kept apart unless ``include_non_optimal``) and k:
    columns POINT_COLUMNS (``n``: seeds; ``marks``: see report.marks). Points of k = all without an
    annotation count are left out (they have no place on the x axis)."""
    chosen = runs[runs["method"].isin(INITS.keys())]
    if chosen.empty or "AOGM" not in chosen:
        return pd.DataFrame(columns=POINT_COLUMNS)
    chosen = chosen.assign(apart=(chosen["optimal"] == "false") & (not include_non_optimal))
    all_at = chosen[chosen["k"] == "all"].groupby(PANEL_KEYS)["annotations"].mean()
    grouped = chosen.groupby([*PANEL_KEYS, "method", "sampling", "differs", "apart", "k"])
    points = grouped.agg(mean=("AOGM", "mean"), std=("AOGM", "std"), n=("seed", "nunique"))
    points["marks"] = [marks_of(group) for _, group in grouped]  # the same (sorted) order as agg's
    points = points.reset_index()
    numeric_k = pd.to_numeric(points["k"], errors="coerce")
    at_all = pd.Series([all_at.get(tuple(key), math.nan) for key in points[PANEL_KEYS].values], index=points.index)
    points.insert(points.columns.get_loc("k") + 1, "x", numeric_k.where(points["k"] != "all", at_all))
    order = [*PANEL_KEYS, "method", "sampling", "differs", "apart", "x"]
    return points.dropna(subset=["x"]).sort_values(order).reset_index(drop=True)[POINT_COLUMNS]


def reference_levels(runs: pd.DataFrame, include_non_optimal: bool = False) -> pd.DataFrame:
    """Mean AOGM (``mean``) and ``marks`` of the LEVELS methods' runs of the profile's default
    configuration (non-optimal ones only if ``include_non_optimal``), indexed by (dataset, profile, method)."""
    chosen = runs[runs["method"].isin(LEVELS.keys()) & (runs["differs"] == "")]
    if not include_non_optimal:
        chosen = chosen[chosen["optimal"] != "false"]
    if "AOGM" not in chosen or chosen.empty:
        return pd.DataFrame(columns=["mean", "marks"])
    grouped = chosen.groupby(["dataset", "profile", "method"])
    levels = grouped.agg(mean=("AOGM", "mean"))
    levels["marks"] = [marks_of(group) for _, group in grouped]
    return levels


def plot_aogm_vs_k(points: pd.DataFrame, levels: pd.DataFrame, title: str, stem: Path) -> list[Path]:
    """Plot ``points`` (from curve_points) with ``levels`` (from reference_levels): one line per method x
    sampling x configuration x optimality; write ``stem``.png/.svg."""
    groups = sorted(points.groupby(["dataset", "profile"]).groups)
    setups = sorted(points["setup"].unique(), key=lambda s: SETUPS.index(s) if s in SETUPS else len(SETUPS))
    several_inits = points["method"].nunique() > 1
    variants = sorted(points["differs"].unique(), key=lambda text: (text != "", text))
    figure = Figure(figsize=(5 * len(setups) + 2.5, 3.8 * len(groups)), layout="constrained")
    axes = figure.subplots(len(groups), len(setups), squeeze=False)
    for row, (dataset, profile) in enumerate(groups):
        for column, setup in enumerate(setups):
            ax = axes[row][column]
            ax.set_title(f"{group_label(dataset, profile)} — {setup}", fontsize="medium")
            panel = points[(points["dataset"] == dataset) & (points["profile"] == profile) & (points["setup"] == setup)]
            if panel.empty:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            for (method, sampling, differs, apart), line in panel.groupby(["method", "sampling", "differs", "apart"]):
                label = f"{sampling}, {INITS[method]}" if several_inits else sampling
                label = labelled(f"{label} [{differs}]" if differs else label, NOT_OPTIMAL if apart else "")
                style = {"color": COLOURS.get(sampling), "linestyle": LINESTYLES[method]}
                marker = MARKERS[variants.index(differs) % len(MARKERS)]
                face = {"markerfacecolor": "white"} if apart else {}
                drawn = ax.plot(line["x"], line["mean"], marker=marker, label=label, **style, **face)
                hollow = line[line["marks"].str.contains(NOT_OPTIMAL)]  # points that include non-optimal runs
                ax.plot(hollow["x"], hollow["mean"], marker=marker, linestyle="none", markerfacecolor="white",
                        color=drawn[0].get_color(), zorder=drawn[0].get_zorder() + 1)
                spread = line["std"].fillna(0)
                low = (line["mean"] - spread).clip(lower=0)  # AOGM >= 0
                ax.fill_between(line["x"], low, line["mean"] + spread, alpha=0.2, color=drawn[0].get_color())
            for method, (label, colour) in LEVELS.items():
                if (dataset, profile, method) in levels.index:
                    level = levels.loc[(dataset, profile, method)]
                    ax.axhline(level["mean"], linestyle="--", color=colour, linewidth=1, label=labelled(label, level["marks"]))
            ticks = panel.drop_duplicates("x")
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(bottom=0)
            ax.set_xticks(ticks["x"], labels=ticks["k"])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("annotations k")
            ax.set_ylabel("AOGM (lower is better)")
    legend = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    if points["marks"].str.contains(NOT_OPTIMAL).any():
        key = f"hollow markers ({NOT_OPTIMAL}): links not proven optimal"
        legend[key] = Line2D([], [], marker="o", linestyle="none", color="grey", markerfacecolor="white")
    figure.legend(legend.values(), legend.keys(), loc="outside right center", fontsize="small")
    figure.suptitle(title)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        figure.savefig(path, dpi=150)
    return paths
