"""Learned speech filters beside human hearing, every statistic against nulls.

The paper's closing comparison sets filters learned on speech beside human
auditory cortex tuning. Here it is made testable. For each speech dataset
(speech activity, speaker) and each learnable Gabor system, the learned filters
(``gabor.final`` of every run, in Hz and cycles/octave) give:

- ``et_needed``, ``et_core``, ``chi_mtf``: the share of filters inside a
  behavioural region (sources in :data:`ANCHORS`): the modulations speech
  comprehension needs and its most important part (Elliott & Theunissen 2009,
  given in cycles/kHz and converted to cycles/octave at :data:`CENTRE_KHZ`),
  and the psychophysical modulation transfer bandwidths (Chi et al. 1999);
- ``extent_in_cortex`` and ``extent_median_ms``: each filter's temporal extent
  (the span holding 95 % of its envelope energy, capped at the kernel length)
  beside the integration windows of human auditory cortex electrodes
  (Norman-Haignere et al. 2022, :data:`NH_WINDOWS`);
- ``tradeoff_rho``: Spearman's rank correlation of |temporal| and |spectral|
  modulation across filters. Hullett et al. 2016 found human STG organised as a
  trade-off (posterior: fast temporal, low spectral; anterior: slow temporal,
  high spectral); they released no numbers, so the test is the sign and size of
  the correlation, negative for a trade-off.

Each statistic is computed with a bootstrap 95 % interval over filters for the
learned filters and for every null that exists: the same runs' initial filters,
the same system's filters learned on the non-speech datasets, a bank drawn from
the speech features' own modulation power spectrum (only where the run's
feature cache is on this machine), and runs trained with permuted labels
(``train.permute_labels``, filed as ``<system>+permuted``, or any run whose
configuration turns on a ``*permut*`` switch; never counted as learned). A
statement is written only where the learned interval clears every available
null's interval in the anchor's direction (the initial filters always among
them); otherwise the row says which nulls were not beaten. Filters of one run
are not independent, so the intervals are optimistic; a statement is a
necessary, not a sufficient, condition for a claim. NumPy, SciPy and (for the
figure) matplotlib only.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from benchmark import kernels
from benchmark.report import analysis
from benchmark.report.analysis import feature_config, feature_transfer  # noqa: F401 (re-exported)
from benchmark.report.runs import Run

log = logging.getLogger("benchmark.report")

SPEECH_TASKS = ("speech_activity", "speaker")
from benchmark.config import PERMUTED_SUFFIX  # the row of label-permuted runs
CENTRE_KHZ = 1.0            # where cycles/kHz become cycles/octave (c/oct = c/kHz · f · ln 2)
BOOTSTRAP = 1000
SEED = 0
MPS_FILTERS = 2000          # size of the bank drawn from the modulation power spectrum
ENERGY_SPAN = 2 * 1.959964 / math.sqrt(2)   # 95 % of a Gaussian envelope's energy, in σ

ET = "Elliott & Theunissen 2009, PLoS Comput Biol 5(3):e1000302"
CHI = "Chi, Gao, Guyton, Ru & Shamma 1999, J Acoust Soc Am 106(5):2719-2732"
NH = "Norman-Haignere et al. 2022, Nat Hum Behav 6:455-469 (Fig. 4 source data)"
HULLETT = "Hullett, Hamilton, Mesgarani, Schreiner & Chang 2016, J Neurosci 36(6):2014-2026"
SHORT = {ET: "Elliott & Theunissen 2009", CHI: "Chi et al. 1999", NH: "Norman-Haignere et al. 2022",
         HULLETT: "Hullett et al. 2016"}


def cyc_per_oct(cyc_per_khz: float, khz: float = CENTRE_KHZ) -> float:
    """Spectral modulation on a linear axis (cycles/kHz) in cycles/octave at ``khz``."""
    return cyc_per_khz * khz * math.log(2)


@dataclass(frozen=True)
class Anchor:
    key: str
    label: str
    temporal_hz: tuple[float, float]
    spectral_cyc_per_oct: tuple[float, float]
    source: str


ANCHORS = (
    Anchor("et_needed", f"speech comprehension needs: < 12 Hz, < 4 cyc/kHz "
                        f"(= {cyc_per_oct(4):.2f} cyc/oct at {CENTRE_KHZ:g} kHz)",
           (0.0, 12.0), (0.0, cyc_per_oct(4.0)), ET),
    Anchor("et_core", f"most important for comprehension: 1-7 Hz, < 1 cyc/kHz "
                      f"(= {cyc_per_oct(1):.2f} cyc/oct)",
           (1.0, 7.0), (0.0, cyc_per_oct(1.0)), ET),
    Anchor("chi_mtf", "psychophysical MTF 50 % bandwidths: ~16 Hz, ~2 cyc/oct",
           (0.0, 16.0), (0.0, 2.0), CHI),
)

# Integration window width (ms) of human auditory cortex electrodes by distance from
# primary auditory cortex: (group, electrodes, 25th percentile, median, 75th percentile).
NH_WINDOWS = (("0-10 mm", 42, 51.0, 74.0, 135.0), ("10-20 mm", 59, 93.0, 136.0, 200.0),
              ("20-30 mm", 53, 207.0, 274.0, 326.0), ("all electrodes", 182, 73.0, 156.0, 264.0))
CORTEX_IQR_MS = (NH_WINDOWS[-1][2], NH_WINDOWS[-1][4])

# statistic -> (description, direction a claim needs: "higher" | "lower" | "", source)
STATISTICS = {
    **{a.key: (f"share of filters in: {a.label}", "higher", a.source) for a in ANCHORS},
    "extent_in_cortex": (f"share of filters whose temporal extent (95 % envelope energy) lies in "
                         f"the cortical integration windows' interquartile range "
                         f"{CORTEX_IQR_MS[0]:g}-{CORTEX_IQR_MS[1]:g} ms", "higher", NH),
    "extent_median_ms": ("median temporal extent (ms, 95 % envelope energy)", "", NH),
    "tradeoff_rho": ("Spearman rho of |temporal| vs |spectral| modulation across filters "
                     "(negative: a trade-off)", "lower", HULLETT),
}
GROUPS = ("learned", "initial", "non_speech", "mps_bank", "label_permuted")
GROUP_LABELS = {"learned": "learned on speech", "initial": "initial filters",
                "non_speech": "learned on non-speech tasks",
                "mps_bank": "drawn from the speech features' modulation power spectrum",
                "label_permuted": "trained with permuted labels"}
CLAIMS = {
    "et_needed": "more learned filters lie where speech comprehension needs modulation than in "
                 "any null",
    "et_core": "more learned filters lie in the modulations most important for comprehension "
               "than in any null",
    "chi_mtf": "more learned filters lie within human modulation-transfer bandwidths than in "
               "any null",
    "extent_in_cortex": "more learned filters integrate over spans like human auditory cortex "
                        "electrodes than in any null",
    "tradeoff_rho": "learned filters trade temporal against spectral modulation, as human STG "
                    "tuning does, more than any null",
}


@dataclass(frozen=True)
class Bank:
    """Filters of one group in physical units (one entry per filter)."""

    temporal_hz: np.ndarray
    spectral_cyc_per_oct: np.ndarray      # absolute value
    extent_ms: np.ndarray | None          # None where a bank has no envelope (MPS draw)
    n_runs: int
    note: str = ""


@dataclass(frozen=True)
class Row:
    dataset: str
    system: str
    statistic: str
    group: str
    n_filters: int
    n_runs: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    beats: tuple[str, ...] = ()
    not_beaten: tuple[str, ...] = ()
    statement: str = ""
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    dataset: str
    system: str
    banks: dict[str, Bank | None]          # group -> bank (None: the null does not exist)
    notes: dict[str, str]                  # group -> why it is missing
    rows: list[Row]
    transfer: dict[str, float] | None      # the features' temporal transfer cut-offs (Hz)
    runs: list[Run]


# ---------------------------------------------------------------- which runs

def is_speech(dataset: str, runs: list[Run]) -> bool:
    tasks = {r.config.get("task") for r in runs if r.dataset == dataset and r.config.get("task")}
    if not tasks:
        try:
            from benchmark.datasets import dataset_info

            tasks = {dataset_info(dataset).task}
        except Exception:   # an unknown dataset name: not one of ours, so not speech
            return False
    return bool(tasks & set(SPEECH_TASKS))


def label_permuted(run: Run) -> bool:
    """Whether the run was trained with permuted labels (filed as ``<system>+permuted``,
    or a ``*permut*`` setting that is on)."""
    if run.system.endswith(PERMUTED_SUFFIX):
        return True
    for block in run.config.values() if isinstance(run.config, dict) else ():
        if isinstance(block, dict):
            for k, v in block.items():
                if "permut" in str(k).lower() and v not in (False, None, 0, "", "none", "off"):
                    return True
    return False


# ---------------------------------------------------------------- filters in physical units

def extent_ms(run: Run, which: str = "final") -> np.ndarray:
    """Each filter's temporal extent: the span holding 95 % of its envelope energy (ms).

    The envelope exp(-t²/2σ²) has energy exp(-t²/σ²), a Gaussian of deviation σ/√2,
    so 95 % lies within 2·1.96·σ/√2 ≈ 2.77 σ; the kernel's own length caps it. σ is
    in grid units, a tap is ``spacing`` grid units (1 on the centred grid).
    """
    g = run.gabor
    k_t = int(g["kernel_size"][0])
    spacing = kernels.grid_spacing(k_t, analysis._grid_of(run))
    sigma_frames = np.asarray(g[which]["sigma_t"], dtype=float) / spacing
    frames = np.minimum(ENERGY_SPAN * sigma_frames, k_t)
    return frames / float(g["frame_rate_hz"]) * 1000.0


def base_system(system: str) -> str:
    return system[:-len(PERMUTED_SUFFIX)] if system.endswith(PERMUTED_SUFFIX) else system


def run_bank(runs: list[Run], which: str) -> Bank | None:
    if not runs:
        return None
    t, s, e = [], [], []
    for r in runs:
        m = analysis.run_modulations(r, which)
        t.append(m["temporal_hz"])
        s.append(np.abs(m["spectral_cyc_per_oct"]))
        e.append(extent_ms(r, which))
    return Bank(np.concatenate(t), np.concatenate(s), np.concatenate(e), len(runs))


# ---------------------------------------------------------------- the features' own spectrum

def modulation_power_spectrum(logmels: list[np.ndarray], frame_rate_hz: float,
                              bins_per_octave: float, patch: int = 64, max_patches: int = 400):
    """Mean 2-D modulation power of log-mel patches: (temporal Hz, cyc/oct, power).

    Each ``patch``-frame excerpt has its mean removed and a Hann taper in time
    before its 2-D FFT; power is folded onto |temporal| and |spectral| modulation.
    """
    acc, n = None, 0
    for x in logmels:
        x = np.asarray(x, dtype=np.float64)
        for s in range(0, len(x) - patch + 1, patch):
            p = x[s:s + patch]
            p = (p - p.mean()) * np.hanning(patch)[:, None]
            pw = np.abs(np.fft.rfft2(p, axes=(1, 0))) ** 2          # rfft over time
            acc = pw if acc is None else acc + pw
            n += 1
            if n >= max_patches:
                break
        if n >= max_patches:
            break
    if acc is None:
        return None
    n_mels = acc.shape[1]
    t_hz = np.fft.rfftfreq(patch, 1.0 / frame_rate_hz)
    s_cyc = np.abs(np.fft.fftfreq(n_mels)) * bins_per_octave
    power = acc / n
    power[0, 0] = 0.0                                            # the mean, not a modulation
    return t_hz, s_cyc, power


def mps_bank(logmels: list[np.ndarray], frame_rate_hz: float, bins_per_octave: float,
             n: int = MPS_FILTERS, seed: int = SEED) -> Bank | None:
    """``n`` filter positions drawn with probability proportional to the modulation power."""
    mps = modulation_power_spectrum(logmels, frame_rate_hz, bins_per_octave)
    if mps is None or not np.any(mps[2] > 0):
        return None
    t_hz, s_cyc, power = mps
    p = power.ravel() / power.sum()
    rng = np.random.default_rng(seed)
    idx = rng.choice(p.size, size=n, p=p)
    ti, si = np.unravel_index(idx, power.shape)
    # spread each draw uniformly over its bin, so the bank is not stuck on the FFT grid
    dt = t_hz[1] - t_hz[0] if len(t_hz) > 1 else 0.0
    ds = bins_per_octave / power.shape[1]
    t = np.clip(t_hz[ti] + rng.uniform(-0.5, 0.5, n) * dt, 0.0, None)
    s = np.clip(s_cyc[si] + rng.uniform(-0.5, 0.5, n) * ds, 0.0, None)
    return Bank(t, s, None, 0)


def speech_logmels(run: Run, max_items: int = 200, max_frames: int = 3000):
    """Log-mel of the run's dataset from this machine's feature cache, or (None, why)."""
    from benchmark import paths
    from benchmark.features import FeatureStore

    cfg = feature_config(run)
    checksum = run.provenance.get("data_checksum")
    if cfg is None or not checksum:
        return None, "the run records no feature configuration or data checksum"
    folder = paths.features_dir() / run.dataset / f"{checksum}-{cfg.hash()}"
    if not (folder / "index.json").exists():
        return None, "the run's feature cache is not on this machine"
    store = FeatureStore(folder)
    ids = store.ids[::max(1, len(store.ids) // max_items)][:max_items]
    return [store.get(i)[:max_frames] for i in ids], ""


# ---------------------------------------------------------------- statistics

def _statistic(name: str, bank: Bank, idx: np.ndarray) -> np.ndarray:
    """The statistic on each row of filter indices ``idx`` (resamples x filters)."""
    t, s = bank.temporal_hz[idx], bank.spectral_cyc_per_oct[idx]
    e = None if bank.extent_ms is None else bank.extent_ms[idx]
    for a in ANCHORS:
        if a.key == name:
            inside = ((t >= a.temporal_hz[0]) & (t < a.temporal_hz[1])
                      & (s >= a.spectral_cyc_per_oct[0]) & (s < a.spectral_cyc_per_oct[1]))
            return inside.mean(axis=1)
    nan = np.full(len(idx), np.nan)
    if name == "extent_in_cortex":
        if e is None:
            return nan
        return ((e >= CORTEX_IQR_MS[0]) & (e <= CORTEX_IQR_MS[1])).mean(axis=1)
    if name == "extent_median_ms":
        return nan if e is None else np.median(e, axis=1)
    if name == "tradeoff_rho":   # Spearman: Pearson correlation of the ranks (ties averaged)
        rt, rs = stats.rankdata(t, axis=1), stats.rankdata(s, axis=1)
        rt, rs = rt - rt.mean(axis=1, keepdims=True), rs - rs.mean(axis=1, keepdims=True)
        den = np.sqrt((rt ** 2).sum(axis=1) * (rs ** 2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (rt * rs).sum(axis=1) / den, np.nan)
    raise KeyError(name)


def estimate(name: str, bank: Bank) -> tuple[float, float, float]:
    """(value, 2.5 %, 97.5 %) with a bootstrap over the bank's filters (fixed seed)."""
    n = len(bank.temporal_hz)
    value = float(_statistic(name, bank, np.arange(n)[None, :])[0])
    if n < 2 or math.isnan(value):
        return value, math.nan, math.nan
    idx = np.random.default_rng(SEED).integers(0, n, (BOOTSTRAP, n))
    boot = _statistic(name, bank, idx)
    boot = boot[~np.isnan(boot)]
    if boot.size < BOOTSTRAP // 2:
        return value, math.nan, math.nan
    return value, float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def _clears(direction: str, learned: tuple, null: tuple) -> bool | None:
    """Whether the learned interval lies beyond the null's in ``direction`` (None: no test)."""
    if not direction or any(math.isnan(v) for v in (*learned, *null)):
        return None
    return learned[1] > null[2] if direction == "higher" else learned[2] < null[1]


def _statistic_rows(dataset: str, system: str, name: str, direction: str,
                    banks: dict, notes: dict) -> list[Row]:
    """One statistic for every group, the learned group with the nulls it beats and loses to."""
    est = {k: estimate(name, b) for k, b in banks.items() if b is not None}
    beats, lost = [], []
    if "learned" in est:
        for k in GROUPS[1:]:
            if k in est:
                ok = _clears(direction, est["learned"], est[k])
                if ok is not None:
                    (beats if ok else lost).append(k)
    statement = ""
    if direction and beats and not lost and "initial" in beats:
        statement = CLAIMS[name]
    rows = []
    for k in GROUPS:
        b = banks.get(k)
        if b is None:
            rows.append(Row(dataset, system, name, k, 0, 0, None, None, None,
                            note=notes.get(k, "")))
            continue
        v, lo, hi = est[k]
        rows.append(Row(dataset, system, name, k, len(b.temporal_hz), b.n_runs,
                        None if math.isnan(v) else v, None if math.isnan(lo) else lo,
                        None if math.isnan(hi) else hi,
                        tuple(beats) if k == "learned" else (),
                        tuple(lost) if k == "learned" else (),
                        statement if k == "learned" else "",
                        "no envelope: extent undefined" if b.extent_ms is None
                        and name.startswith("extent") else ""))
    if name == "extent_median_ms":   # the human anchors themselves, as rows to read beside
        for label, n_el, p25, med, p75 in NH_WINDOWS:
            rows.append(Row(dataset, system, name, f"human cortex, {label}", n_el, 0, med, p25,
                            p75, note="interquartile range, not a confidence interval"))
    return rows


def compare(dataset: str, system: str, runs: list[Run], all_runs: list[Run],
            logmels=None) -> Comparison:
    """Every statistic for one speech dataset and one learnable system, with its nulls.

    ``logmels``: log-mel arrays of the dataset for the modulation-power null, or None to
    read them from this machine's feature cache (left out, with a note, if absent).
    """
    groups = analysis.learnable_runs(all_runs)
    learned = [r for r in runs if not label_permuted(r)]
    permuted = [r for (d, s), g in groups.items() if d == dataset and base_system(s) == system
                for r in g if label_permuted(r)]
    other = [r for (d, s), g in groups.items()
             if s == system and not is_speech(d, all_runs) for r in g if not label_permuted(r)]
    banks: dict[str, Bank | None] = {"learned": run_bank(learned, "final"),
                                     "initial": run_bank(learned, "init"),
                                     "non_speech": run_bank(other, "final"),
                                     "label_permuted": run_bank(permuted, "final")}
    notes = {"non_speech": "no learnable run of this system on a non-speech dataset",
             "label_permuted": f"no run with permuted labels ({system}{PERMUTED_SUFFIX}, "
                               f"train.permute_labels)"}
    ref = learned[0] if learned else runs[0]
    why = ""
    if logmels is None:
        logmels, why = speech_logmels(ref)
    g = ref.gabor
    banks["mps_bank"] = (mps_bank(logmels, float(g["frame_rate_hz"]),
                                  float(g["mel_bins_per_octave"])) if logmels else None)
    notes["mps_bank"] = why or "the features hold no excerpt long enough for the spectrum"
    notes = {k: v for k, v in notes.items() if banks.get(k) is None}

    rows = [row for name, (_, direction, _) in STATISTICS.items()
            for row in _statistic_rows(dataset, system, name, direction, banks, notes)]
    return Comparison(dataset, system, banks, notes, rows, feature_transfer(ref), runs)


def hearing(runs: list[Run], logmels: dict[str, list] | None = None) -> list[Comparison]:
    """One :class:`Comparison` per (speech dataset, learnable Gabor system) with runs."""
    out = []
    for (d, s), group in analysis.learnable_runs(runs).items():
        learned = [r for r in group if not label_permuted(r)]   # permuted runs are a null only
        if learned and is_speech(d, runs):
            out.append(compare(d, s, learned, runs, None if logmels is None else logmels.get(d)))
    return out


# ---------------------------------------------------------------- outputs

CSV_COLUMNS = ("dataset", "system", "statistic", "group", "n_filters", "n_runs", "value",
               "ci95_low", "ci95_high", "direction", "beats", "not_beaten", "statement",
               "description", "source", "note")


def hearing_csv(comparisons: list[Comparison]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def fmt(v):
        return "" if v is None else f"{v:.6g}"

    for c in comparisons:
        for r in c.rows:
            desc, direction, source = STATISTICS[r.statistic]
            w.writerow([r.dataset, r.system, r.statistic, r.group, r.n_filters, r.n_runs,
                        fmt(r.value), fmt(r.ci_low), fmt(r.ci_high),
                        direction if r.group == "learned" else "", " ".join(r.beats),
                        " ".join(r.not_beaten), r.statement, desc, source, r.note])
    return buf.getvalue()


def write_plots(plot_dir: Path, comparisons: list[Comparison]) -> list[Path]:
    written = []
    for c in comparisons:
        name = c.dataset if c.system == analysis.REFERENCE else f"{c.dataset}_{c.system}"
        written += hearing_plot(plot_dir / f"hearing_{name}", c)
    return written


def hearing_plot(base: Path, c: Comparison) -> list[Path]:
    from benchmark.report import plots

    @plots._styled
    def draw():
        fig = plots._figure(11.0, 5.6)
        ax, ex, st = fig.subplots(1, 3, width_ratios=(1.25, 1.0, 1.2))
        _modulation_panel(ax, c)
        _extent_panel(ex, c)
        _statistics_panel(st, c)
        missing = "; ".join(f"{k.replace('_', ' ')} ({v})" for k, v in c.notes.items())
        fig.suptitle(f"{c.dataset}: {c.system} filters beside human hearing"
                     f"{plots.data_label(c.runs)}\nnulls left out: {missing or 'none'}",
                     fontsize=7)
        return plots.save(fig, base)

    return draw()


def _modulation_panel(ax, c: Comparison) -> None:
    """The filter groups in modulation space beside the behavioural anchors."""
    from matplotlib.patches import Rectangle   # matplotlib loads only when a plot is drawn

    b = c.banks
    nyq = float(c.runs[0].gabor["frame_rate_hz"]) / 2
    t_max = nyq
    if b.get("mps_bank") is not None:
        m = b["mps_bank"]
        k = np.random.default_rng(SEED).permutation(len(m.temporal_hz))[:400]
        ax.scatter(m.temporal_hz[k], m.spectral_cyc_per_oct[k], s=3, color="tab:blue",
                   alpha=0.25, linewidths=0, label=GROUP_LABELS["mps_bank"] + " (400 shown)")
    for key, style in (("non_speech", {"marker": "x", "color": "0.55", "s": 10}),
                       ("label_permuted", {"marker": "+", "color": "tab:purple", "s": 14}),
                       ("initial", {"facecolors": "none", "edgecolors": "0.45", "s": 14}),
                       ("learned", {"color": "tab:red", "s": 16, "zorder": 6})):
        if b.get(key) is not None:
            ax.scatter(b[key].temporal_hz, b[key].spectral_cyc_per_oct,
                       label=GROUP_LABELS[key], linewidths=0.8 if key != "learned" else 0,
                       **style)
    for a, ls, col in zip(ANCHORS, ("--", "-", ":"), ("tab:green", "tab:green", "k")):
        (t0, t1), (s0, s1) = a.temporal_hz, a.spectral_cyc_per_oct
        ax.add_patch(Rectangle((t0, s0), t1 - t0, s1 - s0, fill=False, linestyle=ls,
                               edgecolor=col, linewidth=1.0,
                               label=f"{a.label} [{SHORT[a.source]}]"))
    if c.transfer:
        f3, f20 = c.transfer.get("-3"), c.transfer.get("-20")
        if f3 is not None and f3 < t_max:
            ax.axvspan(f3, t_max, color="0.5", alpha=0.08, linewidth=0,
                       label=f"features pass < -3 dB (window): > {f3:.3g} Hz")
        if f20 is not None and f20 < t_max:
            ax.axvspan(f20, t_max, color="0.3", alpha=0.12, linewidth=0,
                       label=f"features pass < -20 dB: > {f20:.3g} Hz")
    ax.set_xlim(0, t_max)
    s_top = max(3.5, float(np.percentile(np.concatenate(
        [x.spectral_cyc_per_oct for x in b.values() if x is not None]), 98)) * 1.1)
    ax.set_ylim(0, s_top)
    ax.set_xlabel("temporal modulation (Hz)")
    ax.set_ylabel(f"|spectral modulation| (cycles/octave; cyc/kHz converted at "
                  f"{CENTRE_KHZ:g} kHz)")
    ax.set_title("filters in modulation space, behavioural anchors", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.13), fontsize=5, frameon=False)


def _extent_panel(ex, c: Comparison) -> None:
    """Temporal extent of the filters beside cortical integration windows."""
    b = c.banks
    longest = max(float(np.max(x.extent_ms)) for x in b.values()
                  if x is not None and x.extent_ms is not None)
    bins = np.linspace(0, max(400.0, longest), 30)
    for key, color in (("initial", "0.6"), ("non_speech", "0.35"), ("learned", "tab:red")):
        if b.get(key) is not None and b[key].extent_ms is not None:
            ex.hist(b[key].extent_ms, bins=bins, histtype="step", color=color,
                    density=True, label=GROUP_LABELS[key], linewidth=1.2)
    y_top = ex.get_ylim()[1]
    for i, (label, n_el, p25, med, p75) in enumerate(NH_WINDOWS):
        y = y_top * (1.04 + 0.06 * i)
        ex.plot([p25, p75], [y, y], color="tab:orange", linewidth=2)
        ex.plot([med], [y], marker="|", color="k", markersize=6)
        ex.annotate(f"{label} (n={n_el})", (p75, y), xytext=(3, -2), textcoords="offset points",
                    fontsize=5)
    ex.set_ylim(0, y_top * 1.35)
    ex.set_xlabel("temporal extent, 95 % of envelope energy (ms)")
    ex.set_ylabel("density of filters")
    ex.set_title(f"extent; orange: cortical integration windows\n(IQR, median) [{SHORT[NH]}]",
                 fontsize=7)
    ex.legend(loc="upper left", bbox_to_anchor=(0.0, -0.13), fontsize=5, frameon=False)


def _statistics_panel(st, c: Comparison) -> None:
    """Every statistic with its nulls."""
    shown = [n for n in STATISTICS if n != "extent_median_ms"]
    colors = {"learned": "tab:red", "initial": "0.45", "non_speech": "0.25",
              "mps_bank": "tab:blue", "label_permuted": "tab:purple"}
    for i, name in enumerate(shown):
        for j, key in enumerate(GROUPS):
            r = next(r for r in c.rows if r.statistic == name and r.group == key)
            if r.value is None:
                continue
            y = i + (j - 2) * 0.15
            lo = r.value if r.ci_low is None else r.ci_low
            hi = r.value if r.ci_high is None else r.ci_high
            st.plot([lo, hi], [y, y], color=colors[key], linewidth=1.2)
            st.plot([r.value], [y], "o", color=colors[key], markersize=3,
                    label=GROUP_LABELS[key] if i == 0 else None)
        learned = next(r for r in c.rows if r.statistic == name and r.group == "learned")
        if learned.statement:
            st.annotate("beats every null", (1.0, i), xycoords=("axes fraction", "data"),
                        ha="right", fontsize=5, color="tab:red")
    st.set_yticks(range(len(shown)), [n.replace("_", " ") for n in shown])
    st.invert_yaxis()
    st.axvline(0, color="0.8", linewidth=0.6)
    st.set_xlabel("value (bootstrap 95 % interval over filters)")
    st.set_title(f"statistics with their nulls\n(trade-off: {SHORT[HULLETT]})", fontsize=7)
    st.legend(loc="upper left", bbox_to_anchor=(0.0, -0.13), fontsize=5, frameon=False)
