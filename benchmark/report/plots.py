"""Figures, each saved as PNG and PDF with fixed metadata.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot state, no GUI
backend) inside the default style, so a user's matplotlibrc cannot change them
and equal inputs give equal files.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from benchmark.io import atomic_path
from benchmark.report.analysis import Cell, Moves, metric_label, moves, run_kernels, run_modulations
from benchmark.report.runs import Run

RC = {"font.size": 8, "axes.titlesize": 9, "figure.titlesize": 10, "axes.labelsize": 8,
      "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
      "savefig.dpi": 150, "pdf.fonttype": 42, "svg.hashsalt": "gaborbench",
      "path.simplify": True}
ARROW = {"max": "↑", "min": "↓"}


def data_label(runs: list[Run]) -> str:
    """Title suffix naming where the data came from."""
    sources = {r.data_source for r in runs}
    if sources == {"twin"}:
        return " (synthetic twin)"
    if sources == {"twin", "real"}:
        return " (synthetic twin + real data)"
    return ""


def _colors(names: list[str]) -> dict[str, tuple]:
    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def save(fig: Figure, base: Path) -> list[Path]:
    """Write ``base``.png and ``base``.pdf without timestamps or software versions."""
    out = []
    for ext, meta in (("png", {"Software": None}),
                      ("pdf", {"CreationDate": None, "ModDate": None, "Producer": None,
                               "Creator": None})):
        path = base.with_suffix("." + ext)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, metadata=meta)
        out.append(path)
    return out


def _figure(w: float, h: float) -> Figure:
    return Figure(figsize=(w, h), layout="constrained")


def _styled(fn):
    def wrapper(*args, **kwargs):
        with matplotlib.style.context("default"), matplotlib.rc_context(RC):
            return fn(*args, **kwargs)
    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


@_styled
def scores(base: Path, columns: list[tuple[str, str]], systems: list[str],
           cells: dict[tuple[str, str, str], Cell], runs: list[Run]) -> list[Path]:
    """Bar chart: each column's metric per system, error bars = sample std."""
    cols = [(d, m) for d, m in columns if any((d, s, m) in cells for s in systems)]
    if not cols:
        return []
    colors = _colors(systems)
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = _figure(2.6 * ncols + 0.4, 2.4 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (d, m) in zip(axes, cols):
        here = [cells[(d, s, m)] for s in systems if (d, s, m) in cells]
        x = np.arange(len(here))
        ax.bar(x, [100 * c.mean for c in here], yerr=[100 * c.std for c in here],
               color=[colors[c.system] for c in here], capsize=3)
        ax.set_xticks(x, [c.system for c in here], rotation=40, ha="right")
        ax.set_xlim(-0.6, max(len(here), 3) - 0.4)   # one bar alone stays bar-sized
        ax.set_title(f"{d}: {metric_label(m)} {ARROW[here[0].direction]}")
        ax.set_ylabel("%")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(cols):]:
        ax.set_axis_off()
    fig.suptitle("Score per system (mean ± std over seeds × folds)" + data_label(runs))
    return save(fig, base)


@_styled
def filter_gallery(base: Path, run: Run) -> list[Path]:
    """Real part of every learned kernel, sorted by temporal then spectral modulation."""
    real, _ = run_kernels(run)
    mod = run_modulations(run)
    order = np.lexsort((mod["spectral_cyc_per_oct"], mod["temporal_hz"]))
    n = real.shape[-1]
    ncols = min(8, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(max(6.0, 1.15 * ncols + 0.2), 0.85 * nrows + 0.9)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, k in zip(axes, order):
        kern = real[:, :, k].T          # mel on the vertical axis, time across
        lim = float(np.abs(kern).max()) or 1.0
        ax.imshow(kern, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{mod['temporal_hz'][k]:.1f} Hz, {mod['spectral_cyc_per_oct'][k]:.2f} c/o",
                     fontsize=5, pad=1)
    for ax in axes[n:]:
        ax.set_axis_off()
    fold = "" if run.fold is None else f", fold {run.fold}"
    fig.suptitle(f"{run.dataset}: {run.system} kernels, seed {run.seed}{fold}{data_label([run])}\n"
                 "real part; time across, mel bins upward; sorted by temporal modulation")
    return save(fig, base)


@_styled
def modulation_map(base: Path, run: Run, grid: dict[str, np.ndarray] | None) -> list[Path]:
    """Init -> final filters in (temporal Hz, spectral cyc/oct) with marginal histograms."""
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    mv: Moves = moves(run)
    fig = _figure(5.6, 5.2)
    gs = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4))
    ax = fig.add_subplot(gs[1, 0])
    top = fig.add_subplot(gs[0, 0], sharex=ax)
    right = fig.add_subplot(gs[1, 1], sharey=ax)
    at, asp = a["temporal_hz"], a["spectral_cyc_per_oct"]
    bt, bsp = b["temporal_hz"], b["spectral_cyc_per_oct"]
    ax.add_collection(LineCollection(np.stack([np.c_[at, asp], np.c_[bt, bsp]], axis=1),
                                     colors="0.6", linewidths=0.6))
    ax.scatter(at, asp, s=14, facecolors="none", edgecolors="0.45", label="init")
    for sign, color, label in ((1, "tab:red", "final, upward sweep"),
                               (-1, "tab:blue", "final, downward sweep"),
                               (0, "tab:green", "final, no sweep")):
        sel = b["direction"] == sign
        if sel.any():
            ax.scatter(bt[sel], bsp[sel], s=14, color=color, label=label)
    if grid is not None:
        ax.scatter(grid["temporal_hz"], grid["spectral_cyc_per_oct"], s=18, marker="x",
                   color="k", alpha=0.6, label="cortical grid")
    ax.set_xlabel("temporal modulation (Hz)")
    ax.set_ylabel("spectral modulation (cycles/octave)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", frameon=False)
    ax.grid(alpha=0.3)
    tbins = np.linspace(0, max(at.max(), bt.max()) * 1.02 + 1e-9, 21)
    sbins = np.linspace(0, max(asp.max(), bsp.max()) * 1.02 + 1e-9, 21)
    top.hist(at, bins=tbins, histtype="step", color="0.45")
    top.hist(bt, bins=tbins, alpha=0.6, color="tab:purple")
    right.hist(asp, bins=sbins, orientation="horizontal", histtype="step", color="0.45")
    right.hist(bsp, bins=sbins, orientation="horizontal", alpha=0.6, color="tab:purple")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("filters")
    right.set_xlabel("filters")
    corner = fig.add_subplot(gs[0, 1])
    corner.set_axis_off()
    corner.text(0.0, 0.5, f"of {mv.n} filters,\nmoved higher / lower:\n"
                f"temporal {mv.temporal_up} / {mv.temporal_down}\n"
                f"spectral {mv.spectral_up} / {mv.spectral_down}", va="center", fontsize=7)
    fold = "" if run.fold is None else f", fold {run.fold}"
    fig.suptitle(f"{run.dataset}: {run.system} filters, init (hollow) → final (filled)\n"
                 f"seed {run.seed}{fold}{data_label([run])}")
    return save(fig, base)


@_styled
def task_similarity(base: Path, names: list[str], dist: np.ndarray, runs: list[Run]) -> list[Path]:
    """Distance matrix and average-linkage dendrogram of datasets' learned filters."""
    if len(names) < 2:
        return []
    fig = _figure(8.0, 3.6)
    ax, den = fig.subplots(1, 2, width_ratios=(1, 1.2))
    im = ax.imshow(dist, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{dist[i, j]:.2f}", ha="center", va="center", fontsize=6,
                    color="w" if dist[i, j] < dist.max() / 2 else "k")
    fig.colorbar(im, ax=ax, shrink=0.8, label="energy distance")
    hierarchy.dendrogram(hierarchy.linkage(squareform(dist, checks=False), method="average"),
                         labels=names, ax=den, color_threshold=0, above_threshold_color="k",
                         leaf_rotation=40, leaf_font_size=7)
    den.set_ylabel("energy distance (average linkage)")
    fig.suptitle("Distance between tasks' learned filters in modulation space"
                 + data_label(runs) + "\nenergy distance on (log2(1 + Hz), log2(1 + cyc/oct)), "
                 "final filters pooled over seeds and folds")
    return save(fig, base)


@_styled
def curves(base: Path, dataset: str, metric: str, direction: str,
           by_system: dict[str, list[Run]], colors: dict[str, tuple]) -> list[Path]:
    """Validation main metric per epoch: light line per run, bold mean over runs."""
    fig = _figure(5.0, 3.4)
    ax = fig.subplots()
    drawn = False
    all_runs = []
    for system, group in by_system.items():
        series = []
        for r in group:
            ep, val = r.history.get("epoch"), r.history.get("val_main")
            if not ep or not val or len(ep) != len(val):
                continue
            series.append((np.asarray(ep, dtype=float), 100 * np.asarray(val, dtype=float)))
            all_runs.append(r)
        if not series:
            continue
        for ep, val in series:
            ax.plot(ep, val, color=colors[system], alpha=0.25, linewidth=0.8)
        epochs = np.unique(np.concatenate([ep for ep, _ in series]))
        mean = [np.mean([v[ep == e][0] for ep, v in series if np.any(ep == e)]) for e in epochs]
        ax.plot(epochs, mean, color=colors[system], linewidth=1.8, label=system)
        drawn = True
    if not drawn:
        return []
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"validation {metric_label(metric)} (%) {ARROW[direction]}")
    ax.legend(frameon=False, loc="best")
    ax.grid(alpha=0.3)
    ax.set_title(f"{dataset}: validation curves{data_label(all_runs)}\n"
                 "bold: mean over seeds (and folds); thin: each run")
    return save(fig, base)


@_styled
def drift(base: Path, drifts: dict[tuple[str, str], tuple[int, int, dict[str, float]]],
          runs: list[Run], reference: str) -> list[Path]:
    """Median change of each Gabor parameter from its initial value, per dataset."""
    if not drifts:
        return []
    labels = [d if s == reference else f"{d}\n{s}" for d, s in drifts]
    params = list(next(iter(drifts.values()))[2])
    fig = _figure(max(4.0, 1.1 * len(labels) + 1.5), 3.2)
    ax = fig.subplots()
    width = 0.8 / len(params)
    x = np.arange(len(labels))
    cmap = matplotlib.colormaps["tab10"]
    for i, p in enumerate(params):
        ax.bar(x + (i - (len(params) - 1) / 2) * width, [v[2][p] for v in drifts.values()],
               width, label=p, color=cmap(i))
    ax.set_xticks(x, labels)
    ax.set_ylabel("median change from init")
    ax.legend(frameon=False, ncols=len(params), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Did it learn? Gabor parameter drift from init" + data_label(runs)
                 + "\nmedian over filters and runs; scales: |Δ|/|init|, orientation: |Δγ|/π")
    return save(fig, base)
