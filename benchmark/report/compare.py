"""``gaborbench compare NEW REFERENCE``: does a fresh run reproduce a results folder?

Cells are matched by (dataset, system, seed, fold); both run files must hold the
same configuration hash. What agreement to expect depends on where the two runs
were made:

- **Bit-identical** when the runs record the same device (processor kind,
  backend, thread count, kernels), platform and package versions: training is
  seeded and op-deterministic, so a rerun on the same machine with the same
  thread count gives the same metrics to the last digit (the committed demo was
  rerun so: 35 of 35 cells identical). The device line does not name the
  processor model: a cell that differs there says whether it would pass the
  tolerance, for the case of another processor of the same kind.
- **Within a tolerance** elsewhere. oneDNN and GPU kernels sum in an order that
  depends on the thread count and the processor's instruction set; a rounding
  difference in the first step changes every later step of training, so the
  metrics of another machine differ by about what another seed gives. Each
  metric is then allowed :data:`TOLERANCE` (absolute, in the metric's own unit,
  fractions of 1), sized from what a different thread count did to the demo.

The verdict is one of ``REPRODUCED (bit-identical)``, ``CONSISTENT (<why the
runs can differ>: all cells within tolerance)`` and ``DIFFERENT: <cells>``;
cells that are missing on one side or unreadable get their own ``INCOMPLETE``
line, and never count as reproduced. The main table is compared line by line
(leaving out the line that names the code's commit) only where every cell is
bit-identical: otherwise its numbers differ with the cells.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import UserError
from benchmark.results import RunRecord

_COMMIT_LINE = "- Code: git commit"

# Allowed absolute difference per metric when the runs were made on different
# devices, thread counts or software (fractions: 0.15 is 15 percentage points).
# Measured on the project's 2-core machine: ten demo cells (learnable_gabor and mel,
# seed 0, on each of the five datasets) rerun at 2 intra-op threads against the
# reference's 1 (its grid workers). Three came out identical; the others moved by up
# to 11.4 points of accuracy or macro-F1 (5 of 48 voxceleb1 test utterances, 3 of 30
# urban clips) and 2.1 points of an error rate (chime5 misses; EER 1.8). An interval
# (``*_ci95``) uses its metric's tolerance on each end. Rounding in the first step
# changes all of training, so the demo's small test sets move by about what
# another seed moves them (learnable_gabor's own range over three seeds: 9-26
# points of accuracy, 0.6-8 points of DetER). The tolerance covers what was
# measured with a margin of a test item or two; it cannot be tighter without
# flagging rounding, and it says nothing about differences between systems.
TOLERANCE: dict[str, float] = {
    "accuracy": 0.15,
    "balanced_accuracy": 0.15,
    "macro_f1": 0.15,
    "detection_error_rate": 0.05,
    "false_alarm_rate": 0.05,
    "miss_rate": 0.05,
    "eer": 0.05,
}
DEFAULT_TOLERANCE = 0.15   # a metric not listed: the widest listed


def tolerance(metric: str) -> float:
    return TOLERANCE.get(metric.removesuffix("_ci95"), DEFAULT_TOLERANCE)


@dataclass
class Comparison:
    same: list[str] = field(default_factory=list)              # bit-identical cells
    within: list[str] = field(default_factory=list)            # "cell: largest difference"
    different: list[str] = field(default_factory=list)         # "cell: what differs"
    only_new: list[str] = field(default_factory=list)
    only_reference: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)        # "cell: side(s): why"
    table_same: bool | None = None                             # None: absent or not compared
    # Why the two sides may differ (empty: their provenance says the same machine).
    reasons: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.only_new or self.only_reference or self.unreadable)

    @property
    def reproduced(self) -> bool:
        """Bit-identical: every cell on both sides, readable, and the same to the last digit."""
        return (bool(self.same) and not self.within and not self.different and self.complete
                and self.table_same is not False)

    @property
    def consistent(self) -> bool:
        """Not bit-identical, but every cell is present and within :data:`TOLERANCE`."""
        return bool(self.within) and not self.different and self.complete

    @property
    def agrees(self) -> bool:
        return self.reproduced or self.consistent

    def verdict(self) -> list[str]:
        """The verdict lines: one, or a DIFFERENT and an INCOMPLETE line."""
        lines = []
        if self.reproduced:
            lines.append(f"REPRODUCED (bit-identical): all {len(self.same)} cells match the "
                         f"reference to the last digit")
        elif self.consistent:
            why = "; ".join(self.reasons) or ("the recorded device, platform and packages "
                                              "match, yet not bit-identical (a code change, or a "
                                              "processor the device line does not name)")
            lines.append(f"CONSISTENT ({why}: all cells within tolerance; "
                         f"{len(self.same)} bit-identical, {len(self.within)} within tolerance)")
        if self.different or self.table_same is False:
            cells = [d.split(":", 1)[0] for d in self.different]
            what = f"cells {', '.join(cells)}" if cells else "the main table"
            lines.append(f"DIFFERENT: {what}")
        if not self.complete:
            parts = [f"{len(v)} {k}" for k, v in (("only in the new folder", self.only_new),
                                                   ("only in the reference", self.only_reference),
                                                   ("unreadable", self.unreadable)) if v]
            lines.append(f"INCOMPLETE: cells {', '.join(parts)}")
        if not lines:
            lines.append("NOTHING COMPARED: no cell is in both folders")
        return lines


def _runs(root: Path) -> dict[str, dict | str]:
    """Cell name -> run object, or the reason it cannot be read."""
    out: dict[str, dict | str] = {}
    for p in sorted((root / "runs").glob("*/*/*.json")):
        cell = str(p.relative_to(root / "runs").with_suffix(""))
        try:
            out[cell] = RunRecord.load(p).to_json()
        except ValueError as e:
            out[cell] = f"not a run file ({str(e).split(' (')[0]})"
    return out


def _table(root: Path) -> list[str] | None:
    path = root / "tables" / "main.md"
    if not path.is_file():
        return None
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith(_COMMIT_LINE)]


def _threads(device: str) -> tuple[str, str | None]:
    """The device line without its thread count, and the count."""
    m = re.search(r"(\d+) threads?", device)
    return (device.replace(m.group(0), "N threads"), m.group(1)) if m else (device, None)


def machine_differences(x: dict, y: dict) -> list[str]:
    """How two runs' provenance differs in what changes the numbers (empty: same machine)."""
    px, py = x.get("provenance") or {}, y.get("provenance") or {}
    out = []
    dx, dy = str(px.get("device", "")), str(py.get("device", ""))
    if dx != dy:
        (kx, tx), (ky, ty) = _threads(dx), _threads(dy)
        if kx == ky:
            out.append(f"different thread count: {tx} vs {ty}")
        else:
            out.append(f"different processor: {dx or 'unrecorded'} vs {dy or 'unrecorded'}")
    for key in ("platform", "python", "keras_backend"):
        if px.get(key) != py.get(key):
            out.append(f"different {key}: {px.get(key)} vs {py.get(key)}")
    kx, ky = px.get("packages") or {}, py.get("packages") or {}
    changed = [f"{p} {kx.get(p, 'absent')} vs {ky.get(p, 'absent')}"
               for p in sorted(set(kx) | set(ky)) if kx.get(p) != ky.get(p)]
    if changed:
        out.append("different packages: " + ", ".join(changed))
    return out


def _close(a, b, tol: float) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(u, v, tol) for u, v in zip(a, b))
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol
    return a == b


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(u) for u in v) + "]"
    return str(v)


def compare(new: Path, reference: Path) -> Comparison:
    new, reference = Path(new), Path(reference)
    for root in (new, reference):
        if not (root / "runs").is_dir():
            raise UserError(f"{root} holds no runs/ folder: pass a results folder")
    a, b = _runs(new), _runs(reference)
    c = Comparison(only_new=sorted(set(a) - set(b)), only_reference=sorted(set(b) - set(a)))
    reasons: dict[str, None] = {}
    for cell in sorted(set(a) & set(b)):
        x, y = a[cell], b[cell]
        if isinstance(x, str) or isinstance(y, str):
            sides = [f"{side} {why}" for side, why in (("new", x), ("reference", y))
                     if isinstance(why, str)]
            c.unreadable.append(f"{cell}: {'; '.join(sides)}")
            continue
        if x.get("config_hash") != y.get("config_hash"):
            c.different.append(f"{cell}: configuration {x.get('config_hash')} vs "
                               f"{y.get('config_hash')}")
            continue
        mx, my = x["metrics"], y["metrics"]
        if mx == my:
            c.same.append(cell)
            continue
        machine = machine_differences(x, y)
        reasons.update(dict.fromkeys(machine))
        keys = sorted(set(mx) | set(my))
        outside = [f"{k} {_fmt(mx.get(k))} vs {_fmt(my.get(k))} (tolerance ±{tolerance(k):g})"
                   for k in keys if not _close(mx.get(k), my.get(k), tolerance(k))]
        if not machine:  # same machine and thread count: the last digit counts
            c.different.append(f"{cell}: " + "; ".join(
                f"{k} {_fmt(mx.get(k))} vs {_fmt(my.get(k))}" for k in keys
                if mx.get(k) != my.get(k)) + " (bit-identical expected: both record the same "
                f"device, platform and packages; {'outside' if outside else 'within'} the "
                f"tolerance for different machines)")
            continue
        if outside:
            c.different.append(f"{cell}: " + "; ".join(outside))
        else:
            c.within.append(f"{cell}: " + "; ".join(
                f"{k} {_fmt(mx.get(k))} vs {_fmt(my.get(k))}" for k in keys
                if mx.get(k) != my.get(k)))
    c.reasons = list(reasons)
    if not c.within:  # with cells only within tolerance the table's numbers differ too
        ta, tb = _table(new), _table(reference)
        c.table_same = None if ta is None or tb is None else ta == tb
    return c


def cli_compare(args) -> int:
    c = compare(Path(args.new), Path(args.reference))
    print(f"{len(c.same)} cell(s) bit-identical, {len(c.within)} within tolerance, "
          f"{len(c.different)} differ, {len(c.only_new)} only in {args.new}, "
          f"{len(c.only_reference)} only in {args.reference}, {len(c.unreadable)} unreadable")
    for label, lines, limit in (("differs", c.different, None), ("unreadable", c.unreadable, None),
                                ("only new", c.only_new, 10),
                                ("only reference", c.only_reference, 10),
                                ("within tolerance", c.within, 10)):
        for line in lines[:limit]:
            print(f"  {label}: {line}")
        if limit is not None and len(lines) > limit:
            print(f"  ... and {len(lines) - limit} more {label}")
    if c.within or c.different:
        print("tolerance where the machines differ (absolute): " + ", ".join(
            f"{k} ±{v:g}" for k, v in TOLERANCE.items()) + f", other metrics ±{DEFAULT_TOLERANCE:g}")
    if c.table_same is not None:
        print("main table: " + ("identical (commit line aside)" if c.table_same else "DIFFERENT"))
    for line in c.verdict():
        print(line)
    return 0 if c.agrees or not args.strict else 1
