"""``gaborbench compare NEW REFERENCE``: does a fresh run reproduce a results folder?

Cells are matched by (dataset, system, seed, fold). A cell reproduces when both
run files hold the same configuration hash and the same metrics, to the last
digit; the main table is compared line by line, leaving out the line that
names the code's commit (a fresh run is usually made from a later commit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import UserError

_COMMIT_LINE = "- Code: git commit"


@dataclass
class Comparison:
    same: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)        # "cell: what differs"
    only_new: list[str] = field(default_factory=list)
    only_reference: list[str] = field(default_factory=list)
    table_same: bool | None = None                             # None: a table is absent

    @property
    def reproduced(self) -> bool:
        return (bool(self.same) and not self.different and not self.only_new
                and not self.only_reference and self.table_same is not False)


def _runs(root: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((root / "runs").glob("*/*/*.json")):
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(obj, dict) and "metrics" in obj:
            out[str(p.relative_to(root / "runs").with_suffix(""))] = obj
    return out


def _table(root: Path) -> list[str] | None:
    path = root / "tables" / "main.md"
    if not path.is_file():
        return None
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith(_COMMIT_LINE)]


def compare(new: Path, reference: Path) -> Comparison:
    new, reference = Path(new), Path(reference)
    for root in (new, reference):
        if not (root / "runs").is_dir():
            raise UserError(f"{root} holds no runs/ folder: pass a results folder")
    a, b = _runs(new), _runs(reference)
    c = Comparison(only_new=sorted(set(a) - set(b)), only_reference=sorted(set(b) - set(a)))
    for cell in sorted(set(a) & set(b)):
        x, y = a[cell], b[cell]
        if x.get("config_hash") != y.get("config_hash"):
            c.different.append(f"{cell}: configuration {x.get('config_hash')} vs {y.get('config_hash')}")
        elif x["metrics"] != y["metrics"]:
            diffs = [f"{k} {x['metrics'].get(k)} vs {y['metrics'].get(k)}"
                     for k in sorted(set(x["metrics"]) | set(y["metrics"]))
                     if x["metrics"].get(k) != y["metrics"].get(k)]
            c.different.append(f"{cell}: " + "; ".join(diffs))
        else:
            c.same.append(cell)
    ta, tb = _table(new), _table(reference)
    c.table_same = None if ta is None or tb is None else ta == tb
    return c


def cli_compare(args) -> int:
    c = compare(Path(args.new), Path(args.reference))
    print(f"{len(c.same)} cell(s) reproduced exactly, {len(c.different)} differ, "
          f"{len(c.only_new)} only in {args.new}, {len(c.only_reference)} only in {args.reference}")
    for line in c.different:
        print(f"  differs: {line}")
    for line in c.only_new[:10]:
        print(f"  only new: {line}")
    for line in c.only_reference[:10]:
        print(f"  only reference: {line}")
    if c.table_same is not None:
        print("main table: " + ("identical (commit line aside)" if c.table_same else "DIFFERENT"))
    verdict = ("REPRODUCED: the fresh run matches the reference" if c.reproduced
               else "NOT REPRODUCED: see the differences above")
    print(verdict)
    return 0 if c.reproduced or not args.strict else 1

