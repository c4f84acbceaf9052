"""The ``gaborbench`` command line.

Each sub-command is declared here (its arguments) and implemented in the module
that owns the work; modules are imported only when their command runs, so
``gaborbench --help`` is instant and never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from benchmark.errors import UserError

PROFILES = ("ci", "demo", "paper", "paper-window")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gaborbench",
        description="Benchmark learnable spectro-temporal (Gabor / STRF) audio frontends.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, target: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(_target=target)
        return sp

    sp = cmd("list", "benchmark.cli:_list", "list systems, datasets or tasks")
    sp.add_argument("what", choices=("systems", "datasets", "tasks"))

    sp = cmd("download", "benchmark.download:cli_download", "fetch and verify a dataset")
    sp.add_argument("name", help="dataset name, or 'all'")
    sp.add_argument("--via", choices=("http", "kaggle"), default=None,
                    help="source to use when a recipe offers several (default: the recipe's first)")
    sp.add_argument("--skip-manual", action="store_true",
                    help="report manual-only datasets instead of stopping on them")

    sp = cmd("synth", "benchmark.twins:cli_synth", "write a synthetic twin of a dataset")
    sp.add_argument("name", metavar="DATASET")
    sp.add_argument("--out", required=True, help="folder to write the twin into")
    sp.add_argument("--size", choices=("tiny", "demo"), default="tiny")
    sp.add_argument("--seed", type=int, default=0)

    sp = cmd("prepare", "benchmark.prepare:cli_prepare",
             "check a dataset's audio, build its manifest and skip report")
    sp.add_argument("name", metavar="DATASET")
    sp.add_argument("--root", default=None,
                    help="dataset folder (default: $GABORBENCH_HOME/data/NAME)")

    sp = cmd("run", "benchmark.train:cli_run", "train and evaluate one system on one dataset")
    sp.add_argument("--dataset", required=True, metavar="DATASET")
    sp.add_argument("--system", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--fold", type=int, default=None)
    sp.add_argument("--profile", choices=PROFILES, default="demo")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="override the profile's data source")
    sp.add_argument("--out", default=None, help="results root (default: results/)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a configuration field (type-checked)")

    sp = cmd("reproduce", "benchmark.grid:cli_reproduce",
             "run every dataset x system x seed (x fold) cell of a profile, then report")
    sp.add_argument("--profile", choices=PROFILES, default="demo")
    sp.add_argument("--jobs", type=int, default=1,
                    help="cells run in this many worker processes (one GPU each when present)")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="override the profile's data source (paper, paper-window: real; ci, demo: twin)")
    sp.add_argument("--out", default=None, help="results root (default: results/)")
    sp.add_argument("--dataset", action="append", default=[], metavar="DATASET",
                    help="only this dataset's cells (repeatable)")
    sp.add_argument("--system", action="append", default=[], help="only this system (repeatable)")

    sp = cmd("plan", "benchmark.grid:cli_plan",
             "print the commands of a profile's grid (shell script or SLURM job array)")
    sp.add_argument("--profile", choices=PROFILES, default="paper")
    sp.add_argument("--format", choices=("shell", "slurm"), default="shell")
    sp.add_argument("--data", choices=("twin", "real"), default=None,
                    help="passed on to every command")
    sp.add_argument("--out", default=None,
                    help="results root the commands write to (passed on as their --out); "
                         "the script itself goes to standard output")
    sp.add_argument("--dataset", action="append", default=[], metavar="DATASET",
                    help="only this dataset's cells (repeatable)")
    sp.add_argument("--system", action="append", default=[], help="only this system (repeatable)")

    sp = cmd("predict", "benchmark.predict:cli_predict",
             "apply a trained model to audio files")
    sp.add_argument("run_json")
    sp.add_argument("audio", nargs="+")
    sp.add_argument("--top", type=int, default=3)

    sp = cmd("report", "benchmark.report:cli_report", "build tables and plots from run files")
    sp.add_argument("--runs", default=None, help="folder of run JSONs (default: results/runs)")
    sp.add_argument("--out", default=None, help="output folder (default: results/)")

    sp = cmd("compare", "benchmark.report.compare:cli_compare",
             "check that a fresh results folder reproduces a reference one (metrics per cell)")
    sp.add_argument("new", help="the fresh results folder (e.g. demo-out)")
    sp.add_argument("reference", help="the reference results folder (e.g. results)")
    sp.add_argument("--strict", action="store_true", help="exit status 1 when they differ")

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
    return p


def _list(args: argparse.Namespace) -> int:
    if args.what == "systems":
        from benchmark.registry import describe_systems

        print(describe_systems())
    elif args.what == "datasets":
        from benchmark.recipes import describe_datasets

        print(describe_datasets())
    else:
        from benchmark.tasks import describe_tasks

        print(describe_tasks())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    module, func = args._target.split(":")
    try:
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except UserError as e:
        print(f"gaborbench {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
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
        print(f"gaborbench {args.command}: error: {_one_line(str(e))} (if it was writing: "
              f"check that the folder is writable and the disk has space)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    """Control characters from a hostile name must not forge further lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def os_error_text(e: OSError) -> str:
    """One line naming the file and what to do about the operating system's refusal."""
    import errno

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
    return _one_line(f"{what}{': ' + where if where else ''}; {remedy}")


if __name__ == "__main__":
    sys.exit(main())
