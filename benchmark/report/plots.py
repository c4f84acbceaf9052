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
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from benchmark import kernels
from benchmark.io import atomic_path
from benchmark.report import analysis
from benchmark.report.analysis import Moves, metric_label, moves, run_kernels, run_modulations
from benchmark.report.runs import Run
from benchmark.report.scores import Cell

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
    """Each column's metric per system: every run as a point, the cell's 95 % interval as a bar.

    Refused cells (different test cells from the rest of their dataset) are left out."""
    cols = [(d, m) for d, m in columns
            if any((d, s, m) in cells and not cells[(d, s, m)].refused for s in systems)]
    if not cols:
        return []
    colors = _colors(systems)
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = _figure(2.6 * ncols + 0.4, 2.4 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (d, m) in zip(axes, cols):
        here = [cells[(d, s, m)] for s in systems
                if (d, s, m) in cells and not cells[(d, s, m)].refused]
        for i, c in enumerate(here):
            if c.ci95 is not None:
                lo, hi = c.ci95
                ax.plot([i, i], [100 * lo, 100 * hi], color=colors[c.system], lw=6, alpha=0.35,
                        solid_capstyle="butt")
            ax.plot([i - 0.25, i + 0.25], [100 * c.mean] * 2, color=colors[c.system], lw=1.5)
            jitter = np.linspace(-0.12, 0.12, len(c.values)) if len(c.values) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), [100 * v for v in c.values], s=12, zorder=3,
                       color=colors[c.system], edgecolor="black", linewidth=0.4)
        ax.set_xticks(np.arange(len(here)), [c.system for c in here], rotation=40, ha="right")
        ax.set_xlim(-0.6, max(len(here), 3) - 0.4)
        ax.set_title(f"{d}: {metric_label(m)} {ARROW[here[0].direction]}")
        ax.set_ylabel("%")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(cols):]:
        ax.set_axis_off()
    fig.suptitle("Score per system: runs (points), mean (line), 95 % interval over runs and "
                 "test items (bar)" + data_label(runs), fontsize=8)
    return save(fig, base)


def _kernels(run: Run, which: str) -> np.ndarray:
    """Real part of the run's ``which`` ("init" or "final") kernels, built as the layer does."""
    p = analysis.gabor_arrays(run.gabor[which])
    real, _ = kernels.gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"],
                                        p["orientation"], run.gabor["kernel_size"],
                                        grid=analysis._grid_of(run))
    return real


@_styled
def filter_gallery(base: Path, run: Run) -> list[Path]:
    """Real part of every kernel, initial above final, sorted by the final filters'
    temporal then spectral modulation; time in ms, frequency in octaves."""
    real = {"init": _kernels(run, "init"), "final": run_kernels(run)[0]}
    mod = {"init": run_modulations(run, "init"), "final": run_modulations(run)}
    order = np.lexsort((mod["final"]["spectral_cyc_per_oct"], mod["final"]["temporal_hz"]))
    n = real["final"].shape[-1]
    k_t, k_f = (int(v) for v in run.gabor["kernel_size"])
    ms = 1000.0 / float(run.gabor["frame_rate_hz"])           # one tap = one frame
    bpo = float(run.gabor["mel_bins_per_octave"])             # mel bands per octave
    extent = (-k_t / 2 * ms, k_t / 2 * ms, -k_f / 2 / bpo, k_f / 2 / bpo)
    ncols = min(8, n)
    groups = math.ceil(n / ncols)
    fig = _figure(max(6.0, 1.15 * ncols + 0.6), 1.7 * groups + 1.1)
    axes = fig.subplots(2 * groups, ncols, squeeze=False, sharex=True, sharey=True)
    for i in range(groups * ncols):
        g, c = divmod(i, ncols)
        for row, which in enumerate(("init", "final")):
            ax = axes[2 * g + row, c]
            if i >= n:
                ax.set_axis_off()
                continue
            k = order[i]
            kern = real[which][:, :, k].T        # octaves upward, time across
            lim = float(np.abs(kern).max()) or 1.0
            ax.imshow(kern, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                      interpolation="nearest", extent=extent)
            m = mod[which]
            ax.set_title(f"{which}: {m['temporal_hz'][k]:.1f} Hz, "
                         f"{m['spectral_cyc_per_oct'][k]:.2f} c/o", fontsize=5, pad=1)
            ax.tick_params(labelsize=5, length=2, pad=1)
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.yaxis.set_major_locator(MaxNLocator(3))
    fig.supxlabel("time (ms)", fontsize=7)
    fig.supylabel(f"frequency (octaves; {bpo:.3g} mel bands per octave)", fontsize=7)
    fold = "" if run.fold is None else f", fold {run.fold}"
    fig.suptitle(f"{run.dataset}: {run.system} kernels, seed {run.seed}{fold}{data_label([run])}\n"
                 "real part; each filter's initial kernel above its final one; "
                 "sorted by final temporal modulation")
    return save(fig, base)


LABEL_FONTSIZE = 5
LABEL_OFFSET = (3.0, 3.0)       # points, up and right of the marker
LABEL_STEP = 7.0                # points between stacked labels


def _label_positions(points: list[tuple[str, float, float]],
                     to_display=None) -> list[tuple[str, float, float, float, float]]:
    """(text, x, y, dx, dy) per distinct position of ``points`` ((name, x, y) in data units).

    Names at one position are joined with ", " (each once). ``to_display`` maps (x, y)
    to points on the page (identity if None); a label that would overlap one already
    placed steps away from it, alternately down and up, by LABEL_STEP points."""
    at: dict[tuple[float, float], list[str]] = {}
    for name, x, y in points:
        names = at.setdefault((float(x), float(y)), [])
        if name not in names:
            names.append(name)
    disp = to_display or (lambda x, y: (x, y))
    height = LABEL_FONTSIZE * 1.2
    placed: list[tuple[float, float, float, float]] = []       # boxes in points
    out = []
    for (x, y) in sorted(at):
        text = ", ".join(at[(x, y)])
        px, py = (float(v) for v in disp(x, y))
        width = 0.6 * LABEL_FONTSIZE * len(text)
        dx = LABEL_OFFSET[0]
        for step in range(12):
            sign = -1 if step % 2 else 1
            dy = LABEL_OFFSET[1] + sign * LABEL_STEP * ((step + 1) // 2)
            box = (px + dx, py + dy, px + dx + width, py + dy + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed):
                break
        placed.append(box)
        out.append((text, x, y, dx, dy))
    return out


DIRECTION_STYLE = ((1, "tab:red", "upward sweep"), (-1, "tab:blue", "downward sweep"),
                   (0, "tab:green", "no sweep"))


def _signed(m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(temporal Hz, spectral cyc/oct signed by sweep direction: + upward, − downward)."""
    return m["temporal_hz"], np.where(m["direction"] < 0, -1.0, 1.0) * m["spectral_cyc_per_oct"]


def _modulation_axes(ax, t_max: float, s_max: float) -> None:
    # symlog with the same reference scales as the log-modulation distance: linear
    # below 1 Hz and 0.1 cyc/oct, logarithmic (one decade-like step per doubling) above.
    ax.set_xscale("symlog", linthresh=analysis.TEMPORAL_REF_HZ, base=2)
    ax.set_yscale("symlog", linthresh=analysis.SPECTRAL_REF_CYC_PER_OCT, base=2)
    xt = [0.0] + [v for v in (1, 2, 4, 8, 16, 32, 64, 128) if v <= t_max]
    yt = [v for v in (0.125, 0.5, 2, 8, 32) if v <= s_max]
    ax.set_xticks(xt, [f"{v:g}" for v in xt])
    ax.set_yticks([-v for v in yt[::-1]] + [0.0] + yt,
                  [f"−{v:g}" for v in yt[::-1]] + ["0"] + [f"{v:g}" for v in yt])
    ax.set_xlim(0, t_max)
    ax.set_ylim(-s_max, s_max)
    ax.axhline(0, color="0.7", linewidth=0.6)
    ax.grid(alpha=0.3)


def _map_limits(points, planted: list[dict], grid, nyquist: float) -> tuple[float, float]:
    """Axis limits that hold every filter, planted point, grid point and the Nyquist line."""
    t_all = np.concatenate([*[t for t, _ in points], [p["temporal_hz"] for p in planted],
                            [nyquist]])
    s_all = np.abs(np.concatenate([*[w for _, w in points],
                                   [p["spectral_cyc_per_oct"] for p in planted], [0.5]]))
    if grid is not None:
        t_all = np.append(t_all, grid["temporal_hz"])
        s_all = np.append(s_all, grid["spectral_cyc_per_oct"])
    return float(t_all.max()) * 1.25, float(s_all.max()) * 1.4


def _draw_planted(ax, fig, planted: list[dict]) -> None:
    """The planted evidence as stars, each labelled with its class (labels kept apart)."""
    pt = np.array([p["temporal_hz"] for p in planted])
    ps = np.array([p["spectral_cyc_per_oct"] for p in planted])
    pd = np.array([p["direction"] for p in planted])
    # a no-sweep pattern holds both directions: draw it on both sides
    both = (pd == 0) & (ps > 0)
    xs = np.concatenate([pt, pt[both]])
    ys = np.concatenate([np.where(pd < 0, -ps, ps), -ps[both]])
    ax.scatter(xs, ys, s=70, marker="*", color="gold", edgecolors="k", linewidths=0.5,
               zorder=5, label="planted evidence")
    to_points = ax.transData + fig.dpi_scale_trans.inverted()      # data -> inches
    labels = _label_positions(
        [(p["class"], x, y) for p, x, y in zip(planted, pt, np.where(pd < 0, -ps, ps))],
        lambda x, y: 72.0 * to_points.transform((x, y)))
    for text, x, y, dx, dy in labels:
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                    fontsize=LABEL_FONTSIZE, color="0.2")


def _side_text(run: Run, planted: list[dict], axis, cut: dict) -> list[str]:
    """The modulation map's side panel: moves, recovery, unit constants, window transfer."""
    mv: Moves = moves(run)
    bpo = float(run.gabor["mel_bins_per_octave"])
    text = [f"seed {run.seed}" + ("" if run.fold is None else f", fold {run.fold}") + ":",
            f"of {mv.n} filters, moved", "higher / lower",
            f"temporal {mv.temporal_up} / {mv.temporal_down}",
            f"spectral {mv.spectral_up} / {mv.spectral_down}"]
    if planted:
        rec = analysis.run_recovery(run)
        text += ["", "recovery (this run):", f"{rec.recovery:+.3f} log2 units",
                 f"distance {rec.d_init.mean():.2f} → {rec.d_final.mean():.2f}"]
    text += ["", f"cyc/oct = cyc/band × {bpo:.3g}", "(exact above 1 kHz)"]
    if axis is not None and axis.bins_per_octave_500hz is not None:
        text += [f"at 500 Hz: × {axis.bins_per_octave_500hz:.3g}",
                 f"({axis.bins_per_octave_500hz / bpo:.2f} of the value used)"]
    if cut:
        text += ["", "features' temporal transfer", "(analysis window):"] + [
            f"{level} dB at {cut[level]:.3g} Hz" for level in ("-3", "-20") if level in cut]
    return text


@_styled
def modulation_map(base: Path, group: list[Run], grid: dict[str, np.ndarray] | None,
                   axis: "analysis.AxisUnits | None" = None) -> list[Path]:
    """Filters in physical modulation units: init → final arrows for one run, the
    final filters of every other run, the planted evidence and the cortical grid."""
    run = group[0]
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    at, aw = _signed(a)
    bt, bw = _signed(b)
    others = [_signed(run_modulations(r, "final")) for r in group[1:]]
    planted = list(run.planted or [])
    nyquist = run.gabor["frame_rate_hz"] / 2
    t_max, s_max = _map_limits([(at, aw), (bt, bw), *others], planted, grid, nyquist)

    fig = _figure(6.8, 5.0)
    ax, side = fig.subplots(1, 2, width_ratios=(4, 1.25))
    _modulation_axes(ax, t_max, s_max)
    if others:
        ax.scatter(np.concatenate([o[0] for o in others]), np.concatenate([o[1] for o in others]),
                   s=5, color="0.65", alpha=0.6, linewidths=0,
                   label=f"final, other {len(others)} run(s)")
    if grid is not None:
        gt, gw = _signed(grid)
        ax.scatter(gt, gw, s=16, marker="x", color="k", alpha=0.5, linewidths=0.8,
                   label="cortical grid")
    for k in range(at.size):
        ax.annotate("", xy=(bt[k], bw[k]), xytext=(at[k], aw[k]),
                    arrowprops={"arrowstyle": "->", "color": "0.35", "linewidth": 0.7,
                                "shrinkA": 2, "shrinkB": 2})
    ax.scatter(at, aw, s=16, facecolors="none", edgecolors="0.35", label="init")
    for sign, color, label in DIRECTION_STYLE:
        sel = b["direction"] == sign
        if sel.any():
            ax.scatter(bt[sel], bw[sel], s=16, color=color, label=f"final, {label}", zorder=6)
    if planted:
        _draw_planted(ax, fig, planted)
    ax.axvline(nyquist, color="0.5", linestyle=":", linewidth=0.8)
    # What the features' analysis window lets through: no filter can find temporal
    # modulation the window has already averaged away.
    cut = analysis.feature_transfer(run) or {}
    for level, shade in (("-3", 0.07), ("-20", 0.14)):
        if level in cut and cut[level] < t_max:
            ax.axvspan(cut[level], t_max, color="0.35", alpha=shade, linewidth=0,
                       label=f"features pass < {level} dB (window)")
    ax.set_xlabel("temporal modulation (Hz)")
    ax.set_ylabel("spectral modulation (cycles/octave)\n↑ upward sweeps, ↓ downward sweeps")
    bpo = float(run.gabor["mel_bins_per_octave"])
    sec = ax.secondary_yaxis("right", functions=(lambda y: y / bpo, lambda y: y * bpo))
    sec.set_ylabel("cycles per mel band (exact)", fontsize=7)
    sec.tick_params(labelsize=6)
    ax.legend(loc="lower left", frameon=False, fontsize=6, bbox_to_anchor=(1.12, 0.0))

    side.set_axis_off()
    text = _side_text(run, planted, axis, cut)
    side.text(0.0, 1.0, "\n".join(text), va="top", fontsize=6.5, transform=side.transAxes)
    fig.suptitle(f"{run.dataset}: {run.system} filters in modulation space{data_label(group)}\n"
                 f"arrows: init → final of one run; dotted: temporal Nyquist ({nyquist:.0f} Hz)")
    return save(fig, base)


@_styled
def task_similarity(base: Path, sim: "analysis.Similarity", runs: list[Run]) -> list[Path]:
    """What learning changed per task: distance matrix with Holm p-values, dendrogram,
    and learned vs initial distance per pair (the units confound)."""
    names = sim.names
    if len(names) < 2:
        return []
    k = len(names)
    fig = _figure(11.0, 4.0)
    ax, den, sc = fig.subplots(1, 3, width_ratios=(1.1, 1.1, 1.0))
    dist = sim.change
    im = ax.imshow(dist, cmap="viridis")
    ax.set_xticks(range(k), names, rotation=40, ha="right")
    ax.set_yticks(range(k), names)
    top = float(dist.max()) or 1.0
    for i in range(k):
        for j in range(k):
            label = f"{dist[i, j]:.2f}" if i == j else f"{dist[i, j]:.2f}\np={sim.p_holm[i, j]:.2g}"
            ax.text(j, i, label, ha="center", va="center", fontsize=5.5,
                    color="w" if dist[i, j] < top / 2 else "k")
    fig.colorbar(im, ax=ax, shrink=0.8, label="energy distance of the change")
    ax.set_title("change (final − init), Holm p", fontsize=8)
    hierarchy.dendrogram(hierarchy.linkage(squareform(dist, checks=False), method="average"),
                         labels=names, ax=den, color_threshold=0, above_threshold_color="k",
                         leaf_rotation=40, leaf_font_size=7)
    den.set_ylabel("energy distance of the change (average linkage)")
    fin = np.array([p.final_distance for p in sim.pairs])
    ini = np.array([p.init_distance for p in sim.pairs])
    lim = float(max(fin.max(), ini.max(), 1e-3)) * 1.1
    sc.plot([0, lim], [0, lim], color="0.6", linewidth=0.8, linestyle="--")
    sig = np.array([p.p_holm < analysis.ALPHA for p in sim.pairs])
    sc.scatter(ini[~sig], fin[~sig], s=18, color="0.4", label="not distinguishable")
    if sig.any():
        sc.scatter(ini[sig], fin[sig], s=18, color="tab:red", label="Holm p < 0.05")
    if len(sim.pairs) <= 6:     # beyond that the labels only cover each other
        for p, x, y in zip(sim.pairs, ini, fin):
            sc.annotate(f"{p.a}–{p.b}", (x, y), xytext=(2, 2), textcoords="offset points", fontsize=5)
    sc.set_xlim(0, lim)
    sc.set_ylim(0, lim)
    sc.set_xlabel("distance between initial filters")
    sc.set_ylabel("distance between learned filters")
    sc.set_title("on the diagonal: the initialisation\nand units explain the learned distance",
                 fontsize=8)
    sc.legend(frameon=False, fontsize=6, loc="lower right")
    sc.grid(alpha=0.3)
    verdict = analysis.similarity_verdict(sim)
    fig.suptitle("Task similarity of the learnable filters" + data_label(runs) + "\n"
                 + _wrap(verdict, 150))
    return save(fig, base)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


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
