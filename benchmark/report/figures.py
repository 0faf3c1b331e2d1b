"""Figures 2 and 3: AOGM against the number of annotations k, one panel per dataset (and profile) x
setup, mean over seeds with a ±1 std band.

x is k on a log axis, with "all" placed at the mean annotation count (param ``annotations``) of that
panel's k = all runs; y is AOGM on a symlog axis (log above 1, linear below, so that AOGM = 0 stays
visible). Dashed horizontal lines: the supervised and the unsupervised (Attrackt) AOGM of the dataset.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from benchmark.report.tables import INITS, SETUPS, group_label

#: Reference levels: method -> (legend label, colour).
LEVELS = {"supervised": ("Pos. & Sup. Assoc.", "black"), "attrackt": ("Attrackt (unsupervised)", "tab:red")}
COLOURS = {"confidence": "tab:blue", "random": "tab:orange", "optimal": "tab:green"}
LINESTYLES = {"finetune": "-", "scratch": ":"}
PANEL_KEYS = ["dataset", "profile", "setup"]


def curve_points(runs: pd.DataFrame) -> pd.DataFrame:
    """AOGM of the finetune and scratch runs per panel, method, sampling and k: columns PANEL_KEYS,
    method, sampling, k, x, mean, std, n (seeds). Points of k = all without an annotation count
    are left out (they have no place on the x axis)."""
    chosen = runs[runs["method"].isin(INITS.keys())]
    if chosen.empty or "AOGM" not in chosen:
        return pd.DataFrame(columns=[*PANEL_KEYS, "method", "sampling", "k", "x", "mean", "std", "n"])
    all_at = chosen[chosen["k"] == "all"].groupby(PANEL_KEYS)["annotations"].mean()
    points = (
        chosen.groupby([*PANEL_KEYS, "method", "sampling", "k"])
        .agg(mean=("AOGM", "mean"), std=("AOGM", "std"), n=("seed", "nunique"))
        .reset_index()
    )
    numeric_k = pd.to_numeric(points["k"], errors="coerce")
    at_all = pd.Series([all_at.get(tuple(key), math.nan) for key in points[PANEL_KEYS].values], index=points.index)
    points.insert(points.columns.get_loc("k") + 1, "x", numeric_k.where(points["k"] != "all", at_all))
    return points.dropna(subset=["x"]).sort_values([*PANEL_KEYS, "method", "sampling", "x"]).reset_index(drop=True)


def reference_levels(runs: pd.DataFrame) -> pd.Series:
    """Mean AOGM of the LEVELS methods, indexed by (dataset, profile, method)."""
    chosen = runs[runs["method"].isin(LEVELS.keys())]
    if "AOGM" not in chosen:
        return pd.Series(dtype=float)
    return chosen.groupby(["dataset", "profile", "method"])["AOGM"].mean()


def plot_aogm_vs_k(points: pd.DataFrame, levels: pd.Series, title: str, stem: Path) -> list[Path]:
    """Plot ``points`` (from curve_points): one line per method x sampling; write ``stem``.png/.svg."""
    groups = sorted(points.groupby(["dataset", "profile"]).groups)
    setups = sorted(points["setup"].unique(), key=lambda s: SETUPS.index(s) if s in SETUPS else len(SETUPS))
    several_inits = points["method"].nunique() > 1
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
            for (method, sampling), line in panel.groupby(["method", "sampling"]):
                label = f"{sampling}, {INITS[method]}" if several_inits else sampling
                style = {"color": COLOURS.get(sampling), "linestyle": LINESTYLES[method]}
                drawn = ax.plot(line["x"], line["mean"], marker="o", label=label, **style)
                spread = line["std"].fillna(0)
                low = (line["mean"] - spread).clip(lower=0)  # AOGM >= 0
                ax.fill_between(line["x"], low, line["mean"] + spread, alpha=0.2, color=drawn[0].get_color())
            for method, (label, colour) in LEVELS.items():
                value = levels.get((dataset, profile, method), math.nan)
                if not math.isnan(value):
                    ax.axhline(value, linestyle="--", color=colour, linewidth=1, label=label)
            ticks = panel.drop_duplicates("x")
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(bottom=0)
            ax.set_xticks(ticks["x"], labels=ticks["k"])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("annotations k")
            ax.set_ylabel("AOGM (lower is better)")
    legend = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    figure.legend(legend.values(), legend.keys(), loc="outside right center", fontsize="small")
    figure.suptitle(title)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        figure.savefig(path, dpi=150)
    return paths
