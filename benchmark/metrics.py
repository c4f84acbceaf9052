"""Evaluation metrics with the conventions the tables state.

- Speech activity: detection error rate with pyannote.metrics semantics (collar 0,
  overlap scored, duration-weighted over files), and hysteresis binarisation of
  frame scores with pyannote's Binarize semantics, tuned on dev only.
- Speaker verification: equal error rate, pyannote.metrics ``det_curve`` convention.
- Classification: scikit-learn's accuracy, balanced accuracy and macro-F1.

Interval arithmetic is a few lines of numpy (merge, then one sweep over all
boundaries) rather than pyannote.core's Timeline: the latter took 5-9 s for one
hour-long meeting at 100 frames/s (its co_iter is quadratic in practice), which a
threshold grid search over a dev set cannot afford; the sweep takes milliseconds.
The tests check it against pyannote.metrics, which stays a test-only dependency.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from benchmark.registry import Registry

# scikit-learn loads inside the metrics that use it: importing it took 4 s here, which the
# report (it reads stored metrics) and the command line should not wait for.


@dataclass(frozen=True)
class MetricSpec:
    """Everything the harness knows about one metric, in one place.

    ``block`` names the per-item outputs block of a run record the metric is
    recomputed from (``classification``: y_true / y_pred per item;
    ``detection``: false alarm, missed and total reference speech per 10 s block;
    ``verification``: score and target per trial), and ``from_items`` computes it
    from that block's columns with per-row bootstrap weights (see
    :mod:`benchmark.stats`). ``unit`` is what a table shows (fractions as %).
    """

    name: str
    direction: str        # "max" | "min": which way is better
    label: str            # column header
    block: str
    from_items: Callable = field(repr=False)
    unit: str = "%"


def _w(columns: Mapping, weights) -> np.ndarray:
    return np.asarray(weights, np.float64)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def accuracy_items(columns: Mapping, weights) -> float:
    w = _w(columns, weights)
    return _ratio(float(w @ (np.asarray(columns["y_true"]) == np.asarray(columns["y_pred"]))), w.sum())


def balanced_accuracy_items(columns: Mapping, weights) -> float:
    """Mean per-class recall over the classes present (scikit-learn's definition)."""
    w = _w(columns, weights)
    y, p = np.asarray(columns["y_true"]), np.asarray(columns["y_pred"])
    classes, inv = np.unique(y, return_inverse=True)
    support = np.bincount(inv, weights=w, minlength=len(classes))
    hits = np.bincount(inv, weights=w * (y == p), minlength=len(classes))
    present = support > 0
    return float(np.mean(hits[present] / support[present])) if present.any() else 0.0


def macro_f1_items(columns: Mapping, weights) -> float:
    """Unweighted mean F1 over the labels in y_true or y_pred (scikit-learn, zero_division=0)."""
    w = _w(columns, weights)
    y, p = np.asarray(columns["y_true"]), np.asarray(columns["y_pred"])
    live = w > 0
    y, p, w = y[live], p[live], w[live]
    labels = np.unique(np.concatenate([y, p]))
    f1 = []
    for c in labels:
        tp = float(w @ ((y == c) & (p == c)))
        fp = float(w @ ((y != c) & (p == c)))
        fn = float(w @ ((y == c) & (p != c)))
        f1.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return float(np.mean(f1)) if f1 else 0.0


def _detection(part: str):
    def fn(columns: Mapping, weights) -> float:
        w = _w(columns, weights)
        err = {"detection_error_rate": np.asarray(columns["false_alarm"]) + np.asarray(columns["missed"]),
               "false_alarm_rate": np.asarray(columns["false_alarm"]),
               "miss_rate": np.asarray(columns["missed"])}[part]
        return _rate(float(w @ err), float(w @ np.asarray(columns["total"], np.float64)))
    fn.__name__ = f"{part}_items"
    return fn


def _eer_of(score_column: str):
    def fn(columns: Mapping, weights) -> float:
        """The EER of weighted trials (a trial drawn k times counts k times)."""
        w = _w(columns, weights)
        live = w > 0
        return equal_error_rate(np.asarray(columns[score_column])[live],
                                np.asarray(columns["target"])[live], sample_weight=w[live])
    fn.__name__ = f"eer_items_{score_column}"
    return fn


def _batched_eer(score_column: str):
    """The EER of many weightings of the same trials at once (bootstrap and permutation
    resamples): one sort, then cumulative weighted counts per resample.

    Every distinct score is a threshold (scikit-learn's ``drop_intermediate`` is not
    applied), so a resample's value can differ from :func:`equal_error_rate`'s by the
    gap between two neighbouring ROC points; point estimates always use the exact form.
    """
    def fn(columns: Mapping, W: np.ndarray) -> np.ndarray:
        s = np.asarray(columns[score_column], np.float64)
        y = np.asarray(columns["target"]).astype(bool)
        order = np.argsort(-s, kind="stable")
        last = np.r_[np.flatnonzero(np.diff(s[order])), len(s) - 1]   # one point per score
        Wo = np.asarray(W, np.float64)[:, order]
        tp = np.cumsum(Wo * y[order], axis=1)[:, last]
        fp = np.cumsum(Wo * ~y[order], axis=1)[:, last]
        pos, neg = tp[:, -1:], fp[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            fpr = np.hstack([np.zeros_like(pos), fp / neg])
            fnr = np.hstack([np.ones_like(pos), 1.0 - tp / pos])
        i = np.argmax(fpr > fnr, axis=1)          # the first point past the crossing
        r = np.arange(len(i))
        exact = fpr[r, i - 1] == fnr[r, i - 1]
        out = np.where(exact, fpr[r, i - 1],
                       0.25 * (fpr[r, i - 1] + fpr[r, i] + fnr[r, i - 1] + fnr[r, i]))
        return np.where((pos[:, 0] > 0) & (neg[:, 0] > 0) & (i > 0), out, np.nan)
    return fn


eer_items = _eer_of("score")
eer_items.batched = _batched_eer("score")


# Batched forms, ``fn(columns, W)`` for a (resamples, rows) weights array: the report's
# bootstrap evaluates thousands of resamples per cell (see benchmark.stats).
def _batched_accuracy(columns: Mapping, W: np.ndarray) -> np.ndarray:
    hit = (np.asarray(columns["y_true"]) == np.asarray(columns["y_pred"])).astype(np.float64)
    tot = W.sum(axis=1)
    return np.where(tot > 0, (W @ hit) / np.maximum(tot, 1e-300), 0.0)


def _class_masks(columns: Mapping):
    y, p = np.asarray(columns["y_true"]), np.asarray(columns["y_pred"])
    labels = np.unique(np.concatenate([y, p]))
    return y, p, labels


def _batched_balanced_accuracy(columns: Mapping, W: np.ndarray) -> np.ndarray:
    y, p, labels = _class_masks(columns)
    in_c = (y[:, None] == labels[None, :]).astype(np.float64)            # rows x classes
    support, hits = W @ in_c, W @ (in_c * (y == p)[:, None])
    present = support > 0
    recall = np.where(present, hits / np.maximum(support, 1e-300), 0.0)
    return recall.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _batched_macro_f1(columns: Mapping, W: np.ndarray) -> np.ndarray:
    y, p, labels = _class_masks(columns)
    is_y = (y[:, None] == labels[None, :]).astype(np.float64)
    is_p = (p[:, None] == labels[None, :]).astype(np.float64)
    tp, fp, fn = W @ (is_y * is_p), W @ ((1 - is_y) * is_p), W @ (is_y * (1 - is_p))
    present = (W @ np.maximum(is_y, is_p)) > 0
    den = 2 * tp + fp + fn
    f1 = np.where(den > 0, 2 * tp / np.maximum(den, 1e-300), 0.0)
    return np.where(present, f1, 0.0).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _batched_detection(part: str):
    def fn(columns: Mapping, W: np.ndarray) -> np.ndarray:
        fa, miss = np.asarray(columns["false_alarm"], np.float64), np.asarray(columns["missed"], np.float64)
        err = {"detection_error_rate": fa + miss, "false_alarm_rate": fa, "miss_rate": miss}[part]
        e, t = W @ err, W @ np.asarray(columns["total"], np.float64)
        return np.where(t > 0, e / np.maximum(t, 1e-300), np.where(e > 0, 1.0, 0.0))
    return fn


accuracy_items.batched = _batched_accuracy
balanced_accuracy_items.batched = _batched_balanced_accuracy
macro_f1_items.batched = _batched_macro_f1


def _with_batch(fn, batched):
    fn.batched = batched
    return fn


# Registered here; another module (a task of its own) adds one with register_metric.
# No plugin loading on reading: this module sits below every task that could be a plugin.
METRICS = Registry("metric", plugins=False)


def register_metric(spec: MetricSpec) -> MetricSpec:
    return METRICS.register(spec.name, spec)


for _spec in (
    MetricSpec("accuracy", "max", "accuracy", "classification", accuracy_items),
    MetricSpec("balanced_accuracy", "max", "balanced accuracy", "classification",
               balanced_accuracy_items),
    MetricSpec("macro_f1", "max", "macro-F1", "classification", macro_f1_items),
    MetricSpec("detection_error_rate", "min", "DetER", "detection",
               _with_batch(_detection("detection_error_rate"), _batched_detection("detection_error_rate"))),
    MetricSpec("false_alarm_rate", "min", "false alarm", "detection", _with_batch(_detection("false_alarm_rate"), _batched_detection("false_alarm_rate"))),
    MetricSpec("miss_rate", "min", "miss", "detection", _with_batch(_detection("miss_rate"), _batched_detection("miss_rate"))),
    MetricSpec("eer", "min", "EER", "verification", eer_items),
    # after adaptive s-norm (benchmark.scoring): the trials' "score_snorm" column
    MetricSpec("eer_snorm", "min", "EER (s-norm)", "verification",
               _with_batch(_eer_of("score_snorm"), _batched_eer("score_snorm"))),
):
    register_metric(_spec)
METRIC_DIRECTIONS = {name: m.direction for name, m in METRICS.items()}


def metric_spec(name: str) -> MetricSpec:
    return METRICS.require(name)


def from_outputs(name: str, outputs: Mapping[str, Mapping[str, Sequence]]) -> float:
    """Recompute metric ``name`` from a run's per-item outputs (every item counted once)."""
    spec = metric_spec(name)
    if spec.block not in outputs:
        raise ValueError(f"metric {name!r} needs the {spec.block!r} outputs block, which the run lacks")
    cols = outputs[spec.block]
    n = len(cols["item"])
    return spec.from_items(cols, np.ones(n))

Segments = Sequence[tuple[float, float]]

BINARIZE_KEYS = ("onset", "offset", "min_duration_on", "min_duration_off")

DEFAULT_BINARIZE_GRID = {
    "onset": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    "offset": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    "min_duration_on": (0.0, 0.1),
    "min_duration_off": (0.0, 0.1),
}


# ------------------------------------------------------------ speech activity

# pyannote.core treats segments shorter than this as empty (its SEGMENT_PRECISION)
_PRECISION = 1e-6


def _segments(segments: Iterable, what: str, file_id: str) -> np.ndarray:
    """(n, 2) float array of non-empty segments, validated."""
    arr = np.asarray([(float(s[0]), float(s[1])) for s in segments], dtype=np.float64).reshape(-1, 2)
    bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 1] < arr[:, 0])
    if bad.any():
        raise ValueError(f"{what} segment {tuple(arr[bad][0])!r} of {file_id!r} is not a finite (start <= end) pair")
    return arr[arr[:, 1] - arr[:, 0] > _PRECISION]


def _support(arr: np.ndarray, collar: float = 0.0) -> np.ndarray:
    """Union of segments, also merging gaps shorter than ``collar``
    (pyannote.core ``Timeline.support(collar)``)."""
    if len(arr) == 0:
        return arr.reshape(0, 2)
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    running_end = np.maximum.accumulate(arr[:, 1])
    gap = arr[1:, 0] - running_end[:-1]
    new = np.r_[True, (gap > _PRECISION) & (gap >= collar)]
    first = np.flatnonzero(new)
    return np.stack([arr[first, 0], np.maximum.reduceat(arr[:, 1], first)], axis=1)


def _inside(sup: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whether each time in ``t`` lies inside the disjoint sorted segments ``sup``."""
    if len(sup) == 0:
        return np.zeros(t.shape, bool)
    i = np.searchsorted(sup[:, 0], t, side="right") - 1
    return (i >= 0) & (t < sup[np.maximum(i, 0), 1])


def detection_error_components(reference: Mapping[str, Segments], hypothesis: Mapping[str, Segments],
                               uem: Mapping[str, Segments | tuple[float, float]] | None = None) -> dict[str, float]:
    """False alarm, missed detection and total reference speech, in seconds, summed over files.

    ``reference`` and ``hypothesis`` map file id -> speech segments (start, end) in
    seconds; ``uem`` maps file id -> scored regions (a list of pairs or a single pair).
    Files are those of ``reference``; a file missing from ``hypothesis`` is all missed.
    Without a UEM for a file, its scored region is the union of the reference and
    hypothesis extents (pyannote's approximation). Collar 0, overlaps scored once.
    """
    unknown = sorted(set(hypothesis) - set(reference))
    if unknown:
        raise ValueError(f"hypothesis has files absent from the reference: {unknown[:5]}")
    fa = miss = total = 0.0
    for fid in sorted(reference):
        ref = _support(_segments(reference[fid], "reference", fid))
        hyp = _support(_segments(hypothesis.get(fid, ()), "hypothesis", fid))
        region = None if uem is None else uem.get(fid)
        if region is None:
            both = np.concatenate([ref, hyp])
            scored = np.array([[both[:, 0].min(), both[:, 1].max()]]) if len(both) else np.empty((0, 2))
        else:
            if len(region) == 2 and np.isscalar(region[0]):
                region = [region]
            scored = _support(_segments(region, "uem", fid))
        # Sweep over every boundary: between two consecutive boundaries each of
        # reference / hypothesis / scored region is constant, so test the midpoint.
        edges = np.unique(np.concatenate([ref.ravel(), hyp.ravel(), scored.ravel()]))
        if len(edges) < 2:
            continue
        mid, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        u, r, h = _inside(scored, mid), _inside(ref, mid), _inside(hyp, mid)
        fa += float(width[u & h & ~r].sum())
        miss += float(width[u & r & ~h].sum())
        total += float(width[u & r].sum())
    return {"false_alarm": fa, "missed": miss, "total": total}


def detection_blocks(reference: Mapping[str, Segments], hypothesis: Mapping[str, Segments],
                     uem: Mapping[str, Segments | tuple[float, float]] | None = None,
                     block_seconds: float = 10.0) -> dict[str, list]:
    """False alarm, missed and total reference speech per ``block_seconds`` block of each file.

    The scored region of each file (its UEM, else the extent of reference and
    hypothesis, as :func:`detection_error_components`) is cut into consecutive
    blocks; the components are additive in time (collar 0), so the blocks' sums
    equal the file totals exactly. The report resamples these blocks for its
    intervals: a meeting's errors are correlated within seconds, much less so
    across tens of seconds.
    """
    out: dict[str, list] = {"item": [], "unit": [], "file": [], "start": [],
                            "false_alarm": [], "missed": [], "total": []}
    for fid in sorted(reference):
        region = None if uem is None else uem.get(fid)
        if region is None:
            both = np.concatenate([_segments(reference[fid], "reference", fid),
                                   _segments(hypothesis.get(fid, ()), "hypothesis", fid)])
            if not len(both):
                continue
            scored = np.array([[both[:, 0].min(), both[:, 1].max()]])
        else:
            if len(region) == 2 and np.isscalar(region[0]):
                region = [region]
            scored = _support(_segments(region, "uem", fid))
        if not len(scored):
            continue
        first = int(np.floor(scored[:, 0].min() / block_seconds))
        last = int(np.ceil(scored[:, 1].max() / block_seconds))
        for k in range(first, max(last, first + 1)):
            a, b = k * block_seconds, (k + 1) * block_seconds
            part = np.stack([np.maximum(scored[:, 0], a), np.minimum(scored[:, 1], b)], axis=1)
            part = part[part[:, 1] - part[:, 0] > _PRECISION]
            if not len(part):
                continue
            c = detection_error_components({fid: reference[fid]}, {fid: hypothesis.get(fid, ())},
                                           {fid: [tuple(x) for x in part]})
            name = f"{fid}@{a:g}"
            out["item"].append(name)
            out["unit"].append(name)
            out["file"].append(fid)
            out["start"].append(float(a))
            for key in ("false_alarm", "missed", "total"):
                out[key].append(c[key])
    return out


def _rate(error: float, total: float) -> float:
    # pyannote's convention when there is no reference speech at all
    if total == 0.0:
        return 0.0 if error == 0.0 else 1.0
    return error / total


def detection_error_rate(reference: Mapping[str, Segments], hypothesis: Mapping[str, Segments],
                         uem: Mapping[str, Segments | tuple[float, float]] | None = None) -> float:
    """(false alarm + missed detection) / total reference speech, summed over files.

    pyannote.metrics ``DetectionErrorRate(collar=0, skip_overlap=False)`` semantics;
    see :func:`detection_error_components` for the arguments.
    """
    c = detection_error_components(reference, hypothesis, uem)
    return _rate(c["false_alarm"] + c["missed"], c["total"])


def detection_metrics(reference: Mapping[str, Segments], hypothesis: Mapping[str, Segments],
                      uem: Mapping[str, Segments | tuple[float, float]] | None = None) -> dict[str, float]:
    """The three canonical speech-activity metrics: detection_error_rate,
    false_alarm_rate and miss_rate (each relative to total reference speech)."""
    c = detection_error_components(reference, hypothesis, uem)
    return {
        "detection_error_rate": _rate(c["false_alarm"] + c["missed"], c["total"]),
        "false_alarm_rate": _rate(c["false_alarm"], c["total"]),
        "miss_rate": _rate(c["missed"], c["total"]),
    }


def binarize(scores: np.ndarray, frame_rate_hz: float, onset: float = 0.5, offset: float | None = None,
             min_duration_on: float = 0.0, min_duration_off: float = 0.0) -> list[tuple[float, float]]:
    """Hysteresis thresholding of per-frame speech probabilities into segments.

    pyannote.audio ``Binarize`` hysteresis: a region starts at the first frame
    scoring above ``onset`` and ends at the first later frame scoring below
    ``offset`` (default: ``onset``); regions separated by less than
    ``min_duration_off`` are merged, then regions shorter than
    ``min_duration_on`` are dropped.

    Time stamps follow the features: frame i is centred at i / frame_rate_hz
    (centred STFT), so it covers [(i - 1/2) / frame_rate_hz, (i + 1/2) /
    frame_rate_hz), clipped at 0. A region of frames [a, b) is the interval
    [(a - 1/2) / fr, (b - 1/2) / fr): no systematic delay against references
    whose frame targets were taken at the frame centres.
    """
    y = np.asarray(scores, dtype=np.float64).reshape(-1)
    offset = onset if offset is None else offset
    if y.size == 0:
        return []
    # boundary k lies between frames k - 1 and k; boundary N closes the last frame
    t = np.maximum((np.arange(y.size + 1) - 0.5) / float(frame_rate_hz), 0.0)
    state = _hysteresis(y, onset, offset)
    # a region starts at a switch-on frame and ends at the next switch-off frame
    switch = np.diff(state.astype(np.int8))
    starts = np.flatnonzero(switch == 1) + 1
    ends = np.flatnonzero(switch == -1) + 1
    if state[0]:
        starts = np.r_[0, starts]
    if state[-1]:
        ends = np.r_[ends, y.size]
    segs = np.stack([t[starts], t[ends]], axis=1)
    segs = segs[segs[:, 1] - segs[:, 0] > _PRECISION]
    if min_duration_off > 0.0:
        segs = _support(segs, collar=min_duration_off)
    if min_duration_on > 0.0:
        segs = segs[segs[:, 1] - segs[:, 0] >= min_duration_on]
    return [(float(a), float(b)) for a, b in segs]


def _hysteresis(y: np.ndarray, onset: float, offset: float) -> np.ndarray:
    """Active/inactive state per frame, as pyannote's loop computes it."""
    if offset <= onset:
        # Each frame either forces a state (above onset: on; below offset: off) or
        # keeps the previous one; forward-fill the last forcing frame's decision.
        decision = np.where(y > onset, 1, np.where(y < offset, 0, -1))
        decision[0] = int(y[0] > onset)
        idx = np.where(decision >= 0, np.arange(y.size), 0)
        np.maximum.accumulate(idx, out=idx)
        return decision[idx].astype(bool)
    # offset above onset: a frame between them toggles the state, so walk it.
    state = np.empty(y.size, dtype=bool)
    active = bool(y[0] > onset)
    state[0] = active
    for i in range(1, y.size):
        active = not (y[i] < offset) if active else bool(y[i] > onset)
        state[i] = active
    return state


def tune_binarize(dev_scores: Mapping[str, np.ndarray], dev_reference: Mapping[str, Segments],
                  dev_uem: Mapping[str, Segments | tuple[float, float]] | None, frame_rate_hz: float,
                  grid: Mapping[str, Sequence[float]] | None = None) -> dict[str, float]:
    """Pick the ``binarize`` parameters that minimise DetER on the dev set.

    Searches the product of ``grid`` (default :data:`DEFAULT_BINARIZE_GRID`),
    skipping offset > onset; ties go to the first combination in grid order.
    Returns onset, offset, min_duration_on, min_duration_off and the dev
    detection_error_rate reached. Use dev data only: never the test split.
    """
    g = {**DEFAULT_BINARIZE_GRID, **(grid or {})}
    best = None
    for onset, offset, on, off in itertools.product(g["onset"], g["offset"], g["min_duration_on"],
                                                    g["min_duration_off"]):
        if offset > onset:
            continue
        hyp = {fid: binarize(s, frame_rate_hz, onset, offset, on, off) for fid, s in sorted(dev_scores.items())}
        der = detection_error_rate(dev_reference, hyp, dev_uem)
        if best is None or der < best["detection_error_rate"]:
            best = {"onset": float(onset), "offset": float(offset), "min_duration_on": float(on),
                    "min_duration_off": float(off), "detection_error_rate": float(der)}
    if best is None:
        raise ValueError("the binarize grid has no combination with offset <= onset")
    return best


# ------------------------------------------------------------------ speaker

def equal_error_rate(scores: Sequence[float], labels: Sequence[int | bool],
                     sample_weight: Sequence[float] | None = None) -> float:
    """Equal error rate (a fraction) of similarity scores against 0/1 target labels.

    Convention: pyannote.metrics ``det_curve`` -- sklearn ``roc_curve`` (with its
    default dropping of collinear points), fnr = 1 - tpr, take the first ROC index
    i where fpr > fnr and return the mean of fpr[i-1], fpr[i], fnr[i-1], fnr[i].
    One deliberate difference: when the point i-1 has fpr == fnr exactly, the curve
    crosses there and that value is returned (pyannote would average it with point
    i, giving 0.25 rather than 0.0 for perfectly separated scores).
    Higher score = more likely the same speaker. ``sample_weight`` counts each
    trial that many times (bootstrap resamples).
    """
    from sklearn.metrics import roc_curve

    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of equal length, got {s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"labels must be 0/1 (or bool), got values {sorted(values)[:5]}")
    if len(values) < 2:
        raise ValueError("the EER needs both target and non-target trials; labels hold one class only")
    fpr, tpr, _ = roc_curve(y.astype(bool), s, pos_label=True, sample_weight=sample_weight)
    fnr = 1.0 - tpr
    i = int(np.flatnonzero(fpr > fnr)[0])
    if fpr[i - 1] == fnr[i - 1]:
        return float(fpr[i - 1])
    return float(0.25 * (fpr[i - 1] + fpr[i] + fnr[i - 1] + fnr[i]))


# ----------------------------------------------------------- classification

def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def balanced_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    # A prediction of a class absent from y_true is an error on the true class's recall,
    # which the score already counts: sklearn's warning about it says nothing more.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence, y_pred: Sequence) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def classification_metrics(y_true: Sequence, y_pred: Sequence) -> dict[str, float]:
    """accuracy, balanced_accuracy and macro_f1 in one call."""
    return {"accuracy": accuracy(y_true, y_pred), "balanced_accuracy": balanced_accuracy(y_true, y_pred),
            "macro_f1": macro_f1(y_true, y_pred)}
