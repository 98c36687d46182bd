"""Regenerate Table 1 and Figure 2 of Swierc et al. (2023) with sklens.

[`reproduce`][sklens.experiments.reproduce.reproduce] simulates the source and target domains (through the
simulation cache), trains each method over several seeds, evaluates pooled R^2 on both test sets and writes a
report. Every finished run is stored on disk at once (atomically), so an interrupted reproduction resumes
where it stopped.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import Bunch

from sklens._atomic import atomic_write
from sklens._optional import check_extras
from sklens._validation import HEADS, check_n_jobs, resolve_device
from sklens.exceptions import NonFiniteLossError
from sklens.experiments._runs import (
    network_options,
    read_finished_run,
    run_settings,
    simulation_cache_dir,
    use_domain_statistics,
    write_finished_run,
)
from sklens.experiments.paper_config import (
    METHOD_LABELS,
    MMD_BANDWIDTHS,
    PRESETS,
    SCALINGS,
    ReproductionConfig,
)
from sklens.experiments.report import binned_fractional_residual, write_report

MIN_LENSES = 20
# Training images per second per process (member-images for an ensemble), measured by the quick
# preset on a 2-core CPU (two processes at a time, one torch thread each; docs/results.md), and
# simulated images per second per process, for the estimate printed before a long run.
# RSD and DARE-GRAM: MMD's rates, not measured.
CPU_IMAGES_PER_SECOND = {
    "separate": {
        "none": 2000,
        "oracle": 1900,
        "dann": 870,
        "mmd": 920,
        "coral": 920,
        "rsd": 920,
        "daregram": 920,
    },
    "ensemble": {
        "none": 2090,
        "oracle": 1540,
        "dann": 810,
        "mmd": 840,
        "coral": 840,
        "rsd": 840,
        "daregram": 840,
    },
}
SIMULATED_IMAGES_PER_SECOND = 250


def resolve_config(preset: str = "quick", **overrides) -> ReproductionConfig:
    """The preset's configuration with ``overrides`` applied, checked before any work starts."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    if isinstance(overrides.get("lr"), int | float):  # one rate for every method
        overrides["lr"] = dict.fromkeys(METHOD_LABELS, float(overrides["lr"]))
    config = PRESETS[preset].with_overrides(**overrides)
    if any(rate <= 0 for rate in config.lr.values()):
        raise ValueError(f"learning rates must be positive; got {config.lr}.")
    unknown = [m for m in config.methods if m not in METHOD_LABELS]
    if unknown or not config.methods:
        raise ValueError(f"unknown methods {unknown}; choose among {list(METHOD_LABELS)}.")
    if config.scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {config.scaling!r}; choose one of {list(SCALINGS)}.")
    if config.head not in HEADS:
        raise ValueError(f"unknown head {config.head!r}; choose one of {list(HEADS)}.")
    if config.mmd_bandwidth not in MMD_BANDWIDTHS:
        raise ValueError(
            f"unknown mmd_bandwidth {config.mmd_bandwidth!r}; choose one of {list(MMD_BANDWIDTHS)}."
        )
    if config.n < MIN_LENSES:
        raise ValueError(
            f"n={config.n} is too small for the 70/10/20 split; give at least {MIN_LENSES} lenses per domain."
        )
    if config.data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer; got {config.data_seed}.")
    for name in ("epochs", "seeds", "batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1; got {getattr(config, name)}.")
    return config


def check_requirements(config: ReproductionConfig | None = None) -> None:
    """Raise an ImportError saying what to install unless the extras a reproduction needs are there.

    It simulates (extra ``sim``), draws Figure 2 (extra ``plot``) and, with ``head='flow'``, trains
    flows (extra ``flow``); checked before the first step, so a long run does not fail at the end for
    want of matplotlib.
    """
    flow = config is not None and config.head == "flow"
    check_extras("sim", "plot", *(("flow",) if flow else ()), user="sklens reproduce")


def _effective_n_jobs(n_jobs: int | None) -> int:
    """The number of processes ``n_jobs`` stands for: None means every core, -1 too (as in joblib)."""
    from joblib import effective_n_jobs as joblib_effective_n_jobs

    return joblib_effective_n_jobs(check_n_jobs(-1 if n_jobs is None else n_jobs))


def estimated_cpu_seconds(
    config: ReproductionConfig,
    n_jobs: int | None = None,
    runs: list[tuple[str, int]] | None = None,
    n_simulated: int | None = None,
) -> float:
    """Rough duration on a CPU from measured throughputs: simulating ``n_simulated`` lenses (by
    default both domains whole, see `lenses_to_simulate`) and the training ``runs`` (``(method,
    seed)`` pairs; by default every run of ``config``, see `remaining_runs`)."""
    rates = CPU_IMAGES_PER_SECOND["ensemble" if config.ensemble else "separate"]
    train_rows = 0.7 * config.n
    if runs is None:
        runs = _all_runs(config)
    training = sum(config.epochs * train_rows / rates[method] for method, _ in runs)
    if n_simulated is None:
        n_simulated = 2 * config.n
    simulation = n_simulated / SIMULATED_IMAGES_PER_SECOND
    return (training + simulation) / _effective_n_jobs(n_jobs)


def lenses_to_simulate(config: ReproductionConfig, cache_dir: str | os.PathLike) -> int:
    """Lenses of both domains that the simulation cache in ``cache_dir`` does not hold yet."""
    from sklens.simulation._api import PAPER_DOMAINS, uncached_lenses

    return sum(
        uncached_lenses(domain, config.n, random_state=config.data_seed, cache_dir=cache_dir)
        for domain in PAPER_DOMAINS
    )


def reproduce(
    preset: str = "quick",
    *,
    out: str | os.PathLike = "sklens-out",
    n: int | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
    methods: tuple[str, ...] | None = None,
    scaling: str | None = None,
    mmd_bandwidth: str | None = None,
    domain_batchnorm: bool | None = None,
    lr: float | None = None,
    data_seed: int | None = None,
    head: str | None = None,
    feature_norm: bool | None = None,
    device: str = "auto",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    ensemble: bool | None = None,
    jobs: int | None | str = "deprecated",
) -> Bunch:
    """Reproduce Table 1 and Figure 2 of Swierc et al. (2023).

    Parameters
    ----------
    preset : {'quick', 'paper'}
        ``quick`` finishes within minutes on a CPU; ``paper`` uses the paper's sizes (for a GPU).
    out : path-like
        Output directory: ``table1.md``, ``results.json``, ``figure2.png`` and ``runs/``: one folder per
        method and seed with predictions, history and result, and the trained model (one pickle per
        method's ensemble, in ``METHOD-seedsA-B``, or one per run).
    n : int, optional
        Lenses per domain, instead of the preset's (the fields of
        [`ReproductionConfig`][sklens.experiments.paper_config.ReproductionConfig] say more).
    epochs : int, optional
        Training epochs of every method, instead of the preset's.
    seeds : int, optional
        Training seeds per method, instead of the preset's.
    methods : tuple of str, optional
        Methods to train, instead of the preset's: among ``'none'``, ``'dann'``, ``'mmd'``, ``'coral'``,
        ``'rsd'``, ``'daregram'`` and ``'oracle'``.
    scaling : str, optional
        Pixel scaling, ``'per-domain'``, ``'raw'`` or ``'asinh'``, instead of the preset's.
    mmd_bandwidth : str, optional
        MMD's bandwidth base, ``'mean'`` (the paper's) or ``'median'``, instead of the preset's.
    domain_batchnorm : bool, optional
        Domain-specific BatchNorm for every method but the oracle, instead of the preset's (none).
    lr : float, optional
        One learning rate for every method, instead of the preset's per-method rates.
    data_seed : int, optional
        Seed of the simulated domains, instead of 10 (the paper's): another draw of the same
        distributions, for example to choose settings on data other than the reported table's.
    head : str, optional
        Every method's output head, ``'point'`` (the default, the paper's), ``'gaussian'`` or
        ``'flow'``; R^2 is of the predictive mean.
    feature_norm : bool, optional
        Standardise each image's feature vector over its features in every method's network
        (``module__feature_norm=True``), instead of the preset's (off, the paper's network).
    device : str
        ``'auto'``, ``'cpu'`` or ``'cuda'``.
    n_jobs : int, optional
        Parallel processes for simulation and for training runs: None (the default) or -1 uses every
        CPU core; one training run at a time on a GPU.
    cache_dir : path-like, optional
        Simulation cache (default ``out/cache``).
    progress : bool
        Show progress bars.
    ensemble : bool, optional
        Train a method's seeds as the members of one ensemble trained in one pass (``n_members``;
        member k is the fit with seed k), or one run per seed (False). By default, an ensemble on a GPU
        and separate runs on a CPU (see
        [`ReproductionConfig`][sklens.experiments.paper_config.ReproductionConfig]).
    jobs : int, optional
        The former name of ``n_jobs``.

        .. deprecated:: 0.2.0
            ``jobs`` was renamed ``n_jobs`` (scikit-learn's name) and will be removed in 0.4.0.

    Returns
    -------
    sklearn.utils.Bunch
        ``config``, ``runs`` (one dict per method and seed), ``summary`` (mean and std of R^2 per
        method and domain), ``paths`` of the written files and ``n_trained`` (runs trained by this
        call; finished runs found on disk are reused).

    Examples
    --------
    >>> result = reproduce(n=40, epochs=1, seeds=1, out="/tmp/sklens-doc", progress=False)  # doctest: +SKIP
    >>> sorted(result.summary)  # doctest: +SKIP
    ['dann', 'mmd', 'none', 'oracle']
    """
    n_jobs = _effective_n_jobs(_renamed_jobs(n_jobs, jobs))
    config = resolve_config(
        preset,
        n=n,
        epochs=epochs,
        seeds=seeds,
        methods=tuple(methods) if methods else None,
        scaling=scaling,
        mmd_bandwidth=mmd_bandwidth,
        domain_batchnorm=domain_batchnorm,
        lr=lr,
        data_seed=data_seed,
        head=head,
        feature_norm=feature_norm,
        ensemble=ensemble,
    )
    check_requirements(config)
    out = _prepare_output(out)
    done = _stored_runs(config, out / "runs")  # refuses runs of other settings before simulating
    data = _load_domains(config, n_jobs, simulation_cache_dir(out, cache_dir), progress)
    runs, n_trained = _run_all(config, data, done, out / "runs", device, n_jobs, progress)
    summary = summarise(runs, config.methods)
    paths = write_report(out, config, runs, summary, data_description=_describe(data))
    return Bunch(config=config, runs=runs, summary=summary, paths=paths, n_trained=n_trained)


def _renamed_jobs(n_jobs: int | None, jobs) -> int | None:
    """``n_jobs``, or the value of its deprecated name ``jobs`` with a FutureWarning."""
    if isinstance(jobs, str) and jobs == "deprecated":
        return n_jobs
    if n_jobs is not None:
        raise ValueError("pass n_jobs only: jobs is its deprecated name.")
    warnings.warn(
        "reproduce(jobs=...) was renamed n_jobs in sklens 0.2.0 and jobs will be removed in 0.4.0; "
        "pass n_jobs instead.",
        FutureWarning,
        stacklevel=3,
    )
    return jobs


def _prepare_output(out) -> Path:
    out = Path(out)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output directory {str(out)!r}: {exc}") from exc
    if not os.access(out, os.W_OK):
        raise ValueError(f"the output directory {str(out)!r} is not writable.")
    return out


def _load_domains(config: ReproductionConfig, n_jobs: int, cache_dir: Path, progress: bool) -> Bunch:
    return _load_scaled_domains(
        config.n,
        data_seed=config.data_seed,
        scaling=config.scaling,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        progress=progress,
    )


def _load_scaled_domains(
    n: int,
    *,
    data_seed: int,
    scaling: str,
    n_jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = True,
    targets: list[str] | None = None,
) -> Bunch:
    """The paper's domains (``load_paper_domains``), each scaled by its own training split's pixels.

    Returns the training images and targets of each domain (``X_src``, ``y_src``, ``X_tgt``,
    ``y_tgt``), the scaled test and validation sets (``test``, ``validation``: domain -> (images,
    target)) and the pixel ``scales``.
    """
    from sklens.simulation import load_paper_domains

    domains = load_paper_domains(
        n, random_state=data_seed, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress, targets=targets
    )
    scales = domain_scales(domains.source.train.images, domains.target.train.images, scaling)
    source, target = (partial(scale_pixels, scale=scale, scaling=scaling) for scale in scales)
    return Bunch(
        X_src=source(domains.source.train.images),
        y_src=domains.source.train.target,
        X_tgt=target(domains.target.train.images),
        y_tgt=domains.target.train.target,
        **{
            part: {
                "source": (source(domains.source[part].images), domains.source[part].target),
                "target": (target(domains.target[part].images), domains.target[part].target),
            }
            for part in ("test", "validation")
        },
        scales=scales,
    )


def domain_scales(X_src: np.ndarray, X_tgt: np.ndarray, scaling: str) -> tuple[float, float]:
    """Pixel scale of each domain: its training split's standard deviation, or 1 for raw pixels.

    Only unlabelled images enter, so the target's scale is a legitimate statistic of survey data.
    """
    if scaling == "raw":
        return 1.0, 1.0
    return float(np.std(X_src)), float(np.std(X_tgt))


def scale_pixels(images: np.ndarray, scale: float, scaling: str) -> np.ndarray:
    """Divide by the domain's pixel scale; with ``asinh``, then take ``arcsinh`` (float32 kept)."""
    scaled = images / np.float32(scale)
    return np.arcsinh(scaled, out=scaled) if scaling == "asinh" else scaled


def _describe(data: Bunch) -> dict:
    return {
        "n_train": len(data.X_src),
        "n_test": {domain: len(y) for domain, (_, y) in data.test.items()},
        "pixel_scales": {"source": data.scales[0], "target": data.scales[1]},
    }


def make_estimator(method: str, config: ReproductionConfig, seed: int, device: str, n_members: int = 1):
    """The sklens estimator of one method, configured as in ``config`` (``n_members`` seeds from ``seed``)."""
    from sklens import (
        CNNRegressor,
        CORALRegressor,
        DANNRegressor,
        DAREGRAMRegressor,
        MMDRegressor,
        RSDRegressor,
    )

    common = dict(
        lr=config.lr[method],
        max_epochs=config.epochs,
        batch_size=config.batch_size,
        random_state=seed,
        device=device,
        n_members=n_members,
        domain_batchnorm=config.domain_batchnorm and method != "oracle",
        head=config.head,
        **network_options(config.feature_norm),
    )
    if method == "dann":
        return DANNRegressor(lambda_da=config.lambda_dann, **common)
    if method == "mmd":
        return MMDRegressor(lambda_da=config.lambda_mmd, bandwidth=config.mmd_bandwidth, **common)
    if method == "coral":
        return CORALRegressor(**common)
    if method == "rsd":
        return RSDRegressor(lambda_da=config.lambda_rsd, **common)
    if method == "daregram":
        return DAREGRAMRegressor(**common)
    return CNNRegressor(**common)


def _training_units(config: ReproductionConfig, on_gpu: bool) -> list[tuple[str, tuple[int, ...]]]:
    """What one training job fits: a method's seeds together (an ensemble) or one seed at a time."""
    seeds = tuple(range(config.seeds))
    if config.ensemble or (config.ensemble is None and on_gpu):
        return [(method, seeds) for method in config.methods]
    return [(method, (seed,)) for seed in seeds for method in config.methods]


def _all_runs(config: ReproductionConfig) -> list[tuple[str, int]]:
    return [(method, seed) for seed in range(config.seeds) for method in config.methods]


def remaining_runs(config: ReproductionConfig, out: str | os.PathLike) -> list[tuple[str, int]]:
    """The ``(method, seed)`` runs of ``config`` not yet finished in the output directory ``out``.

    Raises
    ------
    ValueError
        If a finished run there was trained with other settings (see `reproduce`).
    """
    runs_dir = Path(out) / "runs"
    if not runs_dir.is_dir():
        return _all_runs(config)
    return [run for run, result in _stored_runs(config, runs_dir).items() if result is None]


def _stored_runs(config: ReproductionConfig, runs_dir: Path) -> dict[tuple[str, int], dict | None]:
    settings = {method: _run_settings(config, method) for method in config.methods}
    return {(m, s): _load_run(runs_dir, m, s, settings[m]) for m, s in _all_runs(config)}


def _run_all(
    config, data, done: dict, runs_dir: Path, device: str, n_jobs: int, progress: bool
) -> list[dict]:
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    tasks = list(done)
    on_gpu = resolve_device(device).startswith("cuda")
    units = _training_units(config, on_gpu)
    pending = [(m, seeds) for m, seeds in units if any(done[(m, s)] is None for s in seeds)]
    n_workers = 1 if on_gpu else max(1, min(n_jobs, len(pending)))
    threads = _threads_per_worker(n_workers)
    bar = tqdm(
        total=len(tasks),
        initial=sum(result is not None for result in done.values()),
        desc="training runs",
        disable=not progress,
    )
    results = Parallel(n_jobs=n_workers, return_as="generator_unordered")(
        delayed(_train_and_evaluate)(method, seeds, config, data, runs_dir, device, threads)
        for method, seeds in pending
    )
    with warnings.catch_warnings():
        # loky replaces a worker whose memory grew during a run (torch keeps its allocator's pages)
        # and says so with a UserWarning; the run's result is complete, nothing is lost.
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        for unit in results:
            for result in unit:
                bar.update(done[(result["method"], result["seed"])] is None)
                done[(result["method"], result["seed"])] = result
    bar.close()
    n_trained = sum(len(seeds) for _, seeds in pending)
    return [done[task] for task in tasks], n_trained


def _threads_per_worker(n_workers: int) -> int:
    """Torch threads for each of ``n_workers`` training processes: the CPUs this process may use
    (its affinity and cgroup quota, as on a batch-system node or under ``taskset``), shared out."""
    from joblib import cpu_count

    return max(1, cpu_count() // n_workers)


def _run_dir(runs_dir: Path, method: str, seed: int) -> Path:
    return runs_dir / f"{method}-seed{seed}"


def _ensemble_dir(runs_dir: Path, method: str, seeds: tuple[int, ...]) -> Path:
    return runs_dir / f"{method}-seeds{seeds[0]}-{seeds[-1]}"


def _run_settings(config: ReproductionConfig, method: str) -> dict:
    """What a run of ``method`` is trained with: the data's settings and the estimator's parameters
    but its seed, device and member count. Stored in each run's ``result.json``; a rerun reuses a
    finished run only if they are equal."""
    estimator = make_estimator(method, config, seed=0, device="cpu")
    return run_settings(estimator, n=config.n, data_seed=config.data_seed, scaling=config.scaling)


def _load_run(runs_dir: Path, method: str, seed: int, settings: dict) -> dict | None:
    """The stored result of a finished run with these ``settings``, or None (see `read_finished_run`)."""
    run_dir = _run_dir(runs_dir, method, seed)
    result = read_finished_run(run_dir, settings)
    if result is None or "failed" in result:
        return result
    predictions = np.load(run_dir / "predictions.npz")
    result["predictions"] = {
        d: (predictions[f"{d}_true"], predictions[f"{d}_pred"]) for d in ("source", "target")
    }
    return result


def _train_and_evaluate(method, seeds, config, data, runs_dir: Path, device: str, threads: int) -> list[dict]:
    """Fit one method for ``seeds`` (one ensemble, or one run) and store one result per seed."""
    import torch

    torch.set_num_threads(threads)
    model = make_estimator(method, config, seeds[0], device, n_members=len(seeds))
    settings = _run_settings(config, method)
    records = [_run_record(method, seed, len(seeds), settings) for seed in seeds]
    start = time.perf_counter()
    try:
        _fit(model, method, config, data)
    except NonFiniteLossError as exc:  # a diverged run is a result too: recorded, not retried
        return [_save_failed_run(runs_dir, record, str(exc)) for record in records]
    seconds = time.perf_counter() - start
    members = {domain: (y, _predict_members(model, X, domain)) for domain, (X, y) in data.test.items()}
    ensemble = len(seeds) > 1
    if ensemble:
        _save_model(_ensemble_dir(runs_dir, method, seeds), model)
    results = []
    for k, (seed, record) in enumerate(zip(seeds, records, strict=True)):
        predictions = {domain: (y, p[k]) for domain, (y, p) in members.items()}
        result = {
            **record,
            "train_seconds": seconds,
            "r2": {d: float(r2_score(y, p)) for d, (y, p) in predictions.items()},
            "residual_by_bin": {d: binned_fractional_residual(y, p) for d, (y, p) in predictions.items()},
        }
        _save_run(_run_dir(runs_dir, method, seed), model, predictions, result, pickle_model=not ensemble)
        result["predictions"] = predictions
        results.append(result)
    return results


def _fit(model, method: str, config: ReproductionConfig, data: Bunch) -> None:
    if method == "oracle":
        model.fit(data.X_tgt, data.y_tgt)
    elif method == "none" and not config.domain_batchnorm:
        model.fit(data.X_src, data.y_src)
    else:  # with domain BatchNorm, no adaptation still estimates the target's statistics (AdaBN)
        model.fit(data.X_src, data.y_src, X_tgt=data.X_tgt)


def _run_record(method: str, seed: int, n_members: int, settings: dict) -> dict:
    return {"method": method, "seed": seed, "members_trained_together": n_members, "settings": settings}


def _save_failed_run(runs_dir: Path, record: dict, error: str) -> dict:
    """Store a run whose training diverged: its ``result.json`` says why, and the table counts it."""
    return write_finished_run(
        _run_dir(runs_dir, record["method"], record["seed"]), {**record, "failed": error}
    )


def _predict_members(model, X: np.ndarray, domain: str) -> np.ndarray:
    """Each member's predictions of a test set, with its own domain's BatchNorm statistics."""
    return use_domain_statistics(model, domain).predict_members(X)


def _save_model(run_dir: Path, model) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "model.pkl") as temporary, temporary.open("wb") as stream:
        pickle.dump(model, stream)


def _save_run(run_dir: Path, model, predictions: dict, result: dict, *, pickle_model: bool = True) -> None:
    """Store one seed's predictions, history and result (``result.json`` last), and the model unless
    ``pickle_model`` is False (an ensemble's members share one pickle beside the seeds' folders)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    arrays = {f"{d}_{k}": v for d, (y, p) in predictions.items() for k, v in (("true", y), ("pred", p))}
    with atomic_write(run_dir / "predictions.npz") as temporary:
        np.savez(temporary, **arrays)
    if pickle_model:
        _save_model(run_dir, model)
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in model.history]
    with atomic_write(run_dir / "history.json") as temporary:
        temporary.write_text(json.dumps(history, indent=1))
    write_finished_run(run_dir, result)


def summarise(runs: list[dict], methods) -> dict:
    """Mean and standard deviation over seeds of R^2 per method and domain, and the gap closed."""
    summary = {}
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        finished = [r for r in mine if "failed" not in r]
        summary[method] = {d: _mean_std([r["r2"][d] for r in finished]) for d in ("source", "target")}
        summary[method]["failed"] = len(mine) - len(finished)
    if "none" in summary and "oracle" in summary:
        floor, ceiling = summary["none"]["target"]["mean"], summary["oracle"]["target"]["mean"]
        for method in summary:
            gain = summary[method]["target"]["mean"]
            known = None not in (floor, ceiling, gain) and ceiling > floor
            summary[method]["gap_closed"] = float((gain - floor) / (ceiling - floor)) if known else None
    return summary


def _mean_std(values: list[float]) -> dict:
    """Mean and standard deviation, or None for both when no run finished."""
    if not values:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}
