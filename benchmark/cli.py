"""The ``gaborbench`` command line.

Each sub-command is declared here (its arguments) and implemented in the module
that owns the work; modules are imported only when their command runs, so
``gaborbench --help`` is instant and never loads TensorFlow. Names, ``--set``
keys and values, paths and counts are checked here first (:func:`_check_args`),
without a framework, so that a mistake is answered in a fraction of a second.
Framework start-up lines are held back unless ``--verbose`` (see
:func:`benchmark.backend.quiet_framework_imports`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import typing
from pathlib import Path

from benchmark.errors import UserError, printable

PROFILES = ("ci", "demo", "paper", "paper-window")


def _at_least(low: int):
    """argparse type: an integer of at least ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    parse.__name__ = "integer"   # argparse names the type in its messages
    return parse


_positive, _natural = _at_least(1), _at_least(0)


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gaborbench",
        description="Benchmark learnable spectro-temporal (Gabor / STRF) audio frontends.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Every command takes --verbose: framework start-up lines are hidden by default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow, absl and CUDA start-up and log lines "
                             "(hidden by default)")

    def cmd(name: str, target: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[common])
        sp.set_defaults(_target=target)
        return sp

    for add in (_data_commands, _run_commands, _result_commands):
        add(cmd)
    return p


def _add_config(sp: argparse.ArgumentParser) -> None:
    """The options naming one run: dataset, system, seed, fold, profile, data, --set."""
    sp.add_argument("--dataset", required=True, metavar="DATASET",
                    help="dataset name (gaborbench list datasets)")
    sp.add_argument("--system", required=True, metavar="SYSTEM",
                    help="system name (gaborbench list systems)")
    sp.add_argument("--seed", type=_natural, default=0, help="training seed (default 0)")
    sp.add_argument("--fold", type=_positive, default=None,
                    help="test fold of a fold-based dataset (default 1)")
    sp.add_argument("--profile", choices=PROFILES, default="demo",
                    help="sizes and lengths: ci, demo or paper (default demo)")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="override the profile's data source (paper: real; ci, demo: twin)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a configuration field, type-checked (repeatable; "
                         "`gaborbench config show` lists the keys)")


def _data_commands(cmd) -> None:
    """list, config, download, synth, prepare."""
    sp = cmd("list", "benchmark.cli:_list", "list systems, datasets or tasks")
    sp.add_argument("what", choices=("systems", "datasets", "tasks"), help="what to list")
    sp.add_argument("--params", action="store_true",
                    help="systems: count each one's trainable parameters (builds them: loads Keras)")

    sp = cmd("config", "benchmark.cli:_config",
             "show the resolved configuration of one run and every key --set accepts")
    sp.add_argument("action", choices=("show",), help="show: print the configuration")
    _add_config(sp)

    sp = cmd("download", "benchmark.download:cli_download", "fetch and verify a dataset")
    sp.add_argument("name", help="dataset name, or 'all'")
    sp.add_argument("--via", choices=("http", "kaggle"), default=None,
                    help="source to use when a recipe offers several (default: the recipe's first)")
    sp.add_argument("--skip-manual", action="store_true",
                    help="report manual-only datasets instead of stopping on them")

    sp = cmd("synth", "benchmark.twins:cli_synth", "write a synthetic twin of a dataset")
    sp.add_argument("name", metavar="DATASET", help="the dataset whose twin to write")
    sp.add_argument("--out", required=True, help="folder to write the twin into")
    sp.add_argument("--size", choices=("tiny", "demo"), default="tiny",
                    help="tiny (tests, seconds) or demo (the demo profile's twins)")
    sp.add_argument("--seed", type=_natural, default=0, help="generator seed (default 0)")

    sp = cmd("prepare", "benchmark.prepare:cli_prepare",
             "check a dataset's audio, build its manifest and skip report")
    sp.add_argument("name", metavar="DATASET", help="dataset name")
    sp.add_argument("--root", default=None,
                    help="dataset folder (default: $GABORBENCH_HOME/data/NAME)")


def _run_commands(cmd) -> None:
    """run, reproduce, plan."""
    sp = cmd("run", "benchmark.train:cli_run", "train and evaluate one system on one dataset")
    _add_config(sp)
    sp.add_argument("--out", default=None, help="results root (default: results/)")

    sp = cmd("reproduce", "benchmark.grid:cli_reproduce",
             "run every dataset x system x seed (x fold) cell of a profile, then report")
    sp.add_argument("--profile", choices=PROFILES, default="demo",
                    help="which grid: ci, demo or paper (default demo)")
    sp.add_argument("--jobs", type=_positive, default=1,
                    help="cells run in this many worker processes, at least 1 (one GPU each "
                         "when present; default 1)")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="override the profile's data source (paper, paper-window: real; ci, demo: twin)")
    sp.add_argument("--out", default=None, help="results root (default: results/)")
    sp.add_argument("--dataset", action="append", default=[], metavar="DATASET",
                    help="only this dataset's cells (repeatable)")
    sp.add_argument("--system", action="append", default=[], metavar="SYSTEM",
                    help="only this system's cells (repeatable)")
    sp.add_argument("--allow-cpu", action="store_true",
                    help="run a real-data profile (paper, paper-window) even where the backend "
                         "sees no GPU; without it such a grid stops at once (ci and demo always run)")

    sp = cmd("plan", "benchmark.grid:cli_plan",
             "print the commands of a profile's grid (shell script or SLURM job array)")
    sp.add_argument("--profile", choices=PROFILES, default="paper",
                    help="which grid: ci, demo or paper (default paper)")
    sp.add_argument("--format", choices=("shell", "slurm"), default="shell",
                    help="a shell script (default) or a SLURM job-array script")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="passed on to every command")
    sp.add_argument("--out", default=None,
                    help="results root the commands write to (passed on as their --out); "
                         "the script itself goes to standard output")
    sp.add_argument("--dataset", action="append", default=[], metavar="DATASET",
                    help="only this dataset's cells (repeatable)")
    sp.add_argument("--system", action="append", default=[], metavar="SYSTEM",
                    help="only this system's cells (repeatable)")
    slurm = sp.add_argument_group(
        "SLURM resources (--format slurm; each is left out of the script unless given, so "
        "that a stock cluster accepts it)")
    slurm.add_argument("--partition", default=None, help="#SBATCH --partition")
    slurm.add_argument("--time", default=None, help="#SBATCH --time per cell (e.g. 2-00:00:00)")
    slurm.add_argument("--mem", default=None, help="#SBATCH --mem per cell (e.g. 32G)")
    slurm.add_argument("--cpus-per-task", type=_positive, default=None,
                       help="#SBATCH --cpus-per-task")
    slurm.add_argument("--gpus", default=None, help="#SBATCH --gpus per cell (e.g. 1 or a100:1)")
    slurm.add_argument("--gres", default=None,
                       help="#SBATCH --gres (e.g. gpu:1, on clusters that define a gpu GRES)")
    slurm.add_argument("--account", default=None, help="#SBATCH --account")
    slurm.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                       help="a further #SBATCH line, e.g. --sbatch=--constraint=a100 (repeatable)")
    slurm.add_argument("--report-job", action="store_true",
                       help="`bash script` submits the array and a report job that runs when "
                            "every task has ended (sbatch --dependency=afterany)")


def _result_commands(cmd) -> None:
    """predict, report, compare, transfer, bench, gpu-check, clean-data."""
    sp = cmd("predict", "benchmark.predict:cli_predict",
             "apply a trained model to audio files")
    sp.add_argument("run_json", help="the run file of the trained model (results/runs/...json)")
    sp.add_argument("audio", nargs="+", help="audio files to label")
    sp.add_argument("--top", type=_positive, default=3,
                    help="classes shown per file for classification tasks (default 3)")

    sp = cmd("report", "benchmark.report:cli_report", "build tables and plots from run files")
    sp.add_argument("--runs", default=None, help="folder of run JSONs (default: results/runs)")
    sp.add_argument("--out", default=None, help="output folder (default: results/)")

    sp = cmd("compare", "benchmark.report.compare:cli_compare",
             "check that a fresh results folder reproduces a reference one (metrics per cell): "
             "bit-identical on the reference's device and thread count, within a per-metric "
             "tolerance elsewhere")
    sp.add_argument("new", help="the fresh results folder (e.g. demo-out)")
    sp.add_argument("reference", help="the reference results folder (e.g. results)")
    sp.add_argument("--strict", action="store_true",
                    help="exit status 1 unless REPRODUCED or CONSISTENT")

    sp = cmd("transfer", "benchmark.transfer:cli_transfer",
             "score speech-activity models trained on the AMI twin on real AMI excerpts")
    sp.add_argument("--runs", default=None, help="folder of run JSONs (default: OUT/runs)")
    sp.add_argument("--out", default=None, help="output folder (default: results/)")

    sp = cmd("bench", "benchmark.bench:cli_bench", "time the layer and the input pipeline")
    sp.add_argument("--quick", action="store_true", help="fewer repeats and a smaller sweep")
    sp.add_argument("--out", default=None, help="output folder (default: results/bench)")

    sp = cmd("gpu-check", "benchmark.gpucheck:cli_gpu_check",
             "time the layer and run a ci grid on this machine's GPU, on any Keras backend")
    from benchmark.gpucheck import add_arguments

    add_arguments(sp)

    sp = cmd("clean-data", "benchmark.download:cli_clean_data",
             "delete downloaded and extracted datasets under GABORBENCH_HOME")
    sp.add_argument("--yes", action="store_true", help="do not ask")


def _set_verbosity(args: argparse.Namespace) -> None:
    """--verbose: let the frameworks print their start-up lines, here and in the workers."""
    if getattr(args, "verbose", False):
        from benchmark import backend

        os.environ[backend.VERBOSE_ENV] = "1"
        backend.quiet_framework_imports(False)


def _check_args(args: argparse.Namespace) -> None:
    """Validate names, --set keys and values, and paths before any framework is imported,
    so that a mistake is answered in a second, not after TensorFlow's start-up."""
    def folder(path, what: str, must_exist: bool = False) -> None:
        if path is None:
            return
        p = Path(path)
        if must_exist and not p.exists():
            raise UserError(f"{what} folder {path} does not exist")
        if must_exist and not p.is_dir():
            raise UserError(f"{what} {path} is not a folder")
        if p.exists() and not p.is_dir():
            raise UserError(f"{what} {path} is a file, not a folder")

    command = args.command
    if command in ("run", "config"):
        from benchmark.config import resolve_config

        resolve_config(args.dataset, args.system, args.profile, args.set, seed=args.seed,
                       fold=args.fold, data=args.data)
    if command in ("reproduce", "plan"):  # whether the profile's grid has them is checked later
        from benchmark.errors import unknown
        from benchmark.recipes import recipe_names
        from benchmark.systems import get_system

        for d in args.dataset:
            if d not in recipe_names():
                unknown("dataset", d, recipe_names())
        for s in args.system:
            get_system(s)
    if command == "predict":  # an unreadable audio file is reported and skipped there
        if not os.path.isfile(args.run_json):
            raise UserError(f"run file not found: {args.run_json}")
    if command in ("report", "transfer"):
        folder(args.runs, "--runs", must_exist=True)
    for attr in ("out",) if command in ("run", "reproduce", "report", "transfer", "bench") else ():
        folder(getattr(args, attr, None), "--out")


def _config(args: argparse.Namespace) -> int:
    """``gaborbench config show``: the resolved configuration, key by key, with each key's
    type and its default (the task's own setting, before the profile and --set)."""
    from benchmark.config import default_sections, resolve_config
    from benchmark.settings import setting_fields

    cfg = resolve_config(args.dataset, args.system, args.profile, args.set, seed=args.seed,
                         fold=args.fold, data=args.data)
    defaults = default_sections(cfg.dataset, cfg.data, cfg.twin.size if cfg.twin else None)

    def type_name(hint) -> str:
        return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")

    print(f"{cfg.dataset} / {cfg.system}, profile {cfg.profile}, task {cfg.task}, "
          f"{cfg.data} data, seed {cfg.seed}" + ("" if cfg.fold is None else f", fold {cfg.fold}")
          + f" (configuration hash {cfg.hash()})")
    rows = [("key (--set KEY=VALUE)", "type", "value", "default")]
    for section in ("features", "frontend", "head", "protocol", "train", "twin"):
        block = getattr(cfg, section)
        if block is None:
            continue
        hints = typing.get_type_hints(type(block))
        for f in setting_fields(block):
            value, default = getattr(block, f.name), getattr(defaults[section], f.name)
            rows.append((f"{section}.{f.name}", type_name(hints[f.name]), repr(value),
                         "" if value == default else repr(default)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
    print("default: the task's own setting where the profile or --set changed it "
          "(blank: the value is the default)")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.what == "systems":
        from benchmark.systems import describe_systems

        print(describe_systems(params=args.params))
    elif args.what == "datasets":
        from benchmark.recipes import describe_datasets

        print(describe_datasets())
    else:
        from benchmark.config import PROFILES
        from benchmark.datasets import describe_tasks

        print(describe_tasks())
        print("\nprofiles: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    module, func = args._target.split(":")
    _set_verbosity(args)
    try:
        _check_args(args)
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except UserError as e:
        print(f"gaborbench {args.command}: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only or vanished folder: the system's word, once
        print(f"gaborbench {args.command}: error: {os_error_text(e)}", file=sys.stderr)
        return 1
    except RecursionError:  # input nested beyond reason (a recipe, a run file)
        print(f"gaborbench {args.command}: error: input nested too deeply to read; check the "
              f"files this command reads", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if type(e).__name__ != "LibsndfileError":
            raise
        # libsndfile says "System error" for a full or read-only disk when writing audio
        print(f"gaborbench {args.command}: error: {printable(str(e))} (if it was writing: "
              f"check that the folder is writable and the disk has space)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def os_error_text(e: OSError) -> str:
    """One line naming the file and what to do about the operating system's refusal."""
    where = " and ".join(repr(str(f)) for f in (e.filename, e.filename2) if f is not None)
    what = e.strerror or str(e) or type(e).__name__
    remedy = {
        errno.ENOSPC: "free some space or write elsewhere (--out, GABORBENCH_HOME)",
        errno.EDQUOT: "free some space or write elsewhere (--out, GABORBENCH_HOME)",
        errno.EFBIG: "the file size limit was reached: raise it (ulimit -f) or write elsewhere",
        errno.EROFS: "write elsewhere (--out, GABORBENCH_HOME)",
        errno.EACCES: "make it accessible or choose another folder (--out, GABORBENCH_HOME)",
        errno.EPERM: "make it accessible or choose another folder (--out, GABORBENCH_HOME)",
        errno.ENOENT: "check the path",
        errno.ENOTDIR: "a file stands where a folder is needed: move it or choose another path",
        errno.EEXIST: "another process may have written it meanwhile: check it and run again",
        errno.ENOTEMPTY: "another process may have written it meanwhile: check it and run again",
    }.get(e.errno, "check the path and the disk, then run again")
    return printable(f"{what}{': ' + where if where else ''}; {remedy}")


if __name__ == "__main__":
    sys.exit(main())
