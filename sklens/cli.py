"""The ``sklens`` command line. It only parses arguments and calls the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _simulate(args: argparse.Namespace) -> int:
    from sklens.simulation import simulate_to_files

    paths = simulate_to_files(
        args.config,
        args.n,
        args.output,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        file_format=args.format,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    for path in paths:
        print(path)
    return 0


def _add_simulate(subparsers) -> None:
    from sklens.simulation import preset_names

    parser = subparsers.add_parser(
        "simulate",
        help="simulate lens images with deeplenstronomy (needs sklens[sim])",
        description="Simulate lens images with deeplenstronomy and write them to a directory: "
        "NAME.fits (images, target and metadata; sklens.io.read_fits_dataset reads it) or "
        "NAME.npz + NAME.csv, and NAME.yaml (the configuration used).",
    )
    parser.add_argument(
        "config",
        metavar="PRESET_OR_YAML",
        help=f"a preset ({', '.join(preset_names())}) or a deeplenstronomy YAML file",
    )
    parser.add_argument("-n", type=int, required=True, help="number of images")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes (-1: all cores)")
    parser.add_argument("--format", choices=("fits", "npz"), default="fits", help="output format")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_simulate)


def _reproduce(args: argparse.Namespace) -> int:
    from sklens._validation import resolve_device
    from sklens.experiments.reproduce import estimated_cpu_seconds, lenses_to_simulate, resolve_config
    from sklens.experiments.runner import remaining_runs, run_experiment, simulation_cache_dir

    config = resolve_config(
        args.preset,
        n=args.n,
        epochs=args.epochs,
        seeds=args.seeds,
        methods=args.methods,
        scaling=args.scaling,
        mmd_bandwidth=args.mmd_bandwidth,
        domain_batchnorm=args.domain_batchnorm,
        lr=args.lr,
        data_seed=args.data_seed,
        head=args.head,
        feature_norm=args.feature_norm,
        members=args.members,
        seeds_in_one_pass=args.seeds_in_one_pass,
    )
    config.check_requirements()
    if resolve_device(args.device) == "cpu":
        runs = remaining_runs(config, args.out)
        cache_dir = simulation_cache_dir(args.out, args.cache_dir)
        minutes = estimated_cpu_seconds(config, args.n_jobs, runs, lenses_to_simulate(config, cache_dir)) / 60
        left = f"{len(runs)} of {len(config.all_runs())} training runs left"
        print(f"Expected duration on this CPU: about {minutes:.0f} minutes ({left}).")
    result = run_experiment(
        config, out=args.out, device=args.device, n_jobs=args.n_jobs, cache_dir=args.cache_dir
    )
    return _print_report(result)


def _print_report(result) -> int:
    """Print an experiment's table, where each of its files is, then its conclusions, one sentence a
    line; the command's exit status."""
    print(result.paths["table"].read_text())
    for name, path in result.paths.items():
        print(f"{name}: {path}")
    for sentence in result.conclusions:
        print(sentence)
    return 0


def _add_reproduce(subparsers) -> None:
    from sklens.experiments.paper_config import METHOD_LABELS, MMD_BANDWIDTHS
    from sklens.experiments.reproduce import PRESETS
    from sklens.nn.heads import HEADS

    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate Table 1 and Figure 2 of Swierc et al. (2023)",
        description="Simulate the paper's source and target domains, train no adaptation, DANN, MMD and "
        "an oracle over several seeds, and write table1.md, results.json and figure2.png. Finished runs "
        "are kept on disk: rerunning the same command resumes.",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="quick", help="quick (CPU, minutes) or paper"
    )
    parser.add_argument("--n", type=int, help="lenses per domain")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--seeds", type=int, help="training seeds per method")
    parser.add_argument("--methods", help=f"comma-separated: {','.join(METHOD_LABELS)}")
    _add_scaling_argument(parser)
    parser.add_argument(
        "--mmd-bandwidth",
        choices=MMD_BANDWIDTHS,
        help="MMD's bandwidth from the batch's mean squared distance (default, the paper's) or its median",
    )
    parser.add_argument(
        "--domain-batchnorm",
        action="store_const",
        const=True,
        default=None,
        help="domain-specific BatchNorm statistics for every method but the oracle",
    )
    parser.add_argument("--lr", type=float, help="one learning rate for every method (default: the preset's)")
    parser.add_argument(
        "--data-seed", type=int, help="seed of the simulated domains (default 10, the paper's): another draw"
    )
    parser.add_argument(
        "--head",
        choices=tuple(HEADS),
        help="every method's output head (default point, the paper's); R² of the predictive mean",
    )
    _add_feature_norm_argument(parser)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--out", default="sklens-out", metavar="DIR", help="output directory")
    _add_n_jobs_argument(parser)
    _add_members_argument(parser)
    one_pass = parser.add_mutually_exclusive_group()
    one_pass.add_argument(
        "--seeds-in-one-pass",
        action="store_const",
        const=True,
        default=None,
        help="train each method's seeds as the members of one ensemble, in one pass (default on a GPU)",
    )
    one_pass.add_argument(
        "--separate-runs",
        dest="seeds_in_one_pass",
        action="store_const",
        const=False,
        help="one training run at a time (default on a CPU)",
    )
    one_pass.add_argument(
        "--ensemble",
        dest="seeds_in_one_pass",
        action=_RenamedFlag,
        new="--seeds-in-one-pass",
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--cache-dir", help="simulation cache (default: OUT/cache)")
    parser.set_defaults(handler=_reproduce)


class _RenamedFlag(argparse.Action):
    """A flag renamed ``new``: it still sets True, with a FutureWarning."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from sklens._deprecation import warn_renamed

        warn_renamed(option_string, self.new)
        setattr(namespace, self.dest, True)


def _add_n_jobs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--n-jobs", type=int, help="parallel processes, simulation and training runs (default: all cores)"
    )


def _add_members_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--members",
        type=int,
        help="members of each run's deep ensemble, trained in one pass, scored as their mixture (default 1)",
    )


def _add_scaling_argument(parser: argparse.ArgumentParser) -> None:
    from sklens.experiments.data import SCALINGS

    parser.add_argument(
        "--scaling",
        choices=SCALINGS,
        help="per-domain pixel scaling (default), raw pixels, or asinh of the per-domain scaled pixels",
    )


def _add_feature_norm_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feature-norm",
        action="store_const",
        const=True,
        default=None,
        help="standardise each image's feature vector (what adaptation aligns and the head reads)",
    )


def _uncertainty(args: argparse.Namespace) -> int:
    from sklens.experiments.uncertainty import measure_uncertainty

    result = measure_uncertainty(
        out=args.out,
        device=args.device,
        n_jobs=args.n_jobs,
        cache_dir=args.cache_dir,
        n=args.n,
        epochs=args.epochs,
        seeds=args.seeds,
        methods=args.methods,
        heads=args.heads,
        targets=args.targets,
        members=args.members,
        lr=args.lr,
        scaling=args.scaling,
        domain_batchnorm=args.domain_batchnorm,
        feature_norm=args.feature_norm,
    )
    return _print_report(result)


def _add_uncertainty(subparsers) -> None:
    from sklens.experiments.uncertainty import HEADS, METHODS, UncertaintyConfig

    defaults = UncertaintyConfig()
    parser = subparsers.add_parser(
        "uncertainty",
        help="several lens parameters with calibrated uncertainties under domain shift",
        description="Simulate the paper's source and target domains, train no adaptation, MMD and DANN "
        "with the gaussian and flow heads for several lens parameters over seeds, and write "
        "calibration.md (R², residual, 68%% and 95%% coverage, NLL per parameter), results.json and "
        "calibration.png. Finished runs are kept on disk: rerunning the same command resumes.",
    )
    parser.add_argument("--n", type=int, help=f"lenses per domain (default {defaults.n})")
    parser.add_argument("--epochs", type=int, help=f"training epochs (default {defaults.epochs})")
    parser.add_argument("--seeds", type=int, help=f"training seeds (default {defaults.seeds})")
    parser.add_argument("--methods", help=f"comma-separated: {','.join(METHODS)}")
    parser.add_argument("--heads", help=f"comma-separated: {','.join(HEADS)}")
    parser.add_argument(
        "--targets",
        help=f"comma-separated lens parameters (default {','.join(defaults.targets)})",
    )
    _add_members_argument(parser)
    parser.add_argument(
        "--lr", type=float, help=f"Adam's learning rate of every run (default {defaults.lr:g})"
    )
    _add_scaling_argument(parser)
    parser.add_argument(
        "--domain-batchnorm",
        action="store_true",
        help="domain-specific BatchNorm statistics for every method, each test set predicted with its own",
    )
    _add_feature_norm_argument(parser)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    _add_n_jobs_argument(parser)
    parser.add_argument("--out", default="sklens-uncertainty", metavar="DIR", help="output directory")
    parser.add_argument("--cache-dir", help="simulation cache (default: OUT/cache)")
    parser.set_defaults(handler=_uncertainty)


def _prior_shift(args: argparse.Namespace) -> int:
    from sklens.experiments.prior_shift import measure_prior_shift

    result = measure_prior_shift(
        out=args.out,
        device=args.device,
        n_jobs=args.n_jobs,
        cache_dir=args.cache_dir,
        n=args.n,
        epochs=args.epochs,
        seeds=args.seeds,
        methods=args.methods,
        shifted=args.shifted,
        data_seed=args.data_seed,
    )
    return _print_report(result)


def _add_prior_shift(subparsers) -> None:
    from sklens.experiments.prior_shift import SHIFTED_TARGETS, PriorShiftConfig

    defaults = PriorShiftConfig()
    parser = subparsers.add_parser(
        "prior-shift",
        help="adaptation when the survey's lens population differs from the simulation's prior",
        description="Simulate the paper's source, its target with the source's lens population and with "
        "a shifted one; train every method with and without the shift and with prior-shift awareness "
        "(corrected to the estimated population, or trained under it), no adaptation and an oracle; write "
        "prior_shift.md (RMSE, R², offsets per θ_E bin, the population estimate's distance from the "
        "truth), results.json and population.png. Finished runs are kept on disk: rerunning resumes.",
    )
    parser.add_argument("--n", type=int, help=f"lenses per domain (default {defaults.n})")
    parser.add_argument("--epochs", type=int, help=f"training epochs (default {defaults.epochs})")
    parser.add_argument("--seeds", type=int, help=f"training seeds (default {defaults.seeds})")
    parser.add_argument(
        "--methods",
        help=f"comma-separated adaptive methods (default {','.join(defaults.methods)})",
    )
    parser.add_argument(
        "--shifted",
        choices=tuple(SHIFTED_TARGETS),
        help=f"the shifted population (default {defaults.shifted})",
    )
    parser.add_argument("--data-seed", type=int, help="seed of the simulated domains (default 10)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--n-jobs", type=int, help="parallel processes (default: all cores)")
    parser.add_argument("--out", default="sklens-prior-shift", metavar="DIR", help="output directory")
    parser.add_argument("--cache-dir", help="simulation cache (default: OUT/cache)")
    parser.set_defaults(handler=_prior_shift)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sklens`` command, with one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="sklens", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_simulate(subparsers)
    _add_reproduce(subparsers)
    _add_uncertainty(subparsers)
    _add_prior_shift(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sklens`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 on success, 2 on an error in the input (with its message on stderr).

    Examples
    --------
    >>> from sklens.cli import main
    >>> argv = ["simulate", "paper-source", "-n", "8", "-o", "out", "--format", "npz"]
    >>> main(argv)  # doctest: +SKIP
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileExistsError, ImportError) as exc:
        print(f"sklens {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
