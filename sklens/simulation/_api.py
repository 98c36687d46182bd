"""Public simulation functions: ``simulate_lenses`` and ``load_paper_domains``."""

from __future__ import annotations

import dataclasses
import numbers
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from sklens._optional import check_extras
from sklens._validation import check_n_jobs, resolve_seed
from sklens.simulation import _adapter, _cache
from sklens.simulation._config import SimulationConfig, load_config

if TYPE_CHECKING:
    import pandas as pd

    from sklens.population import Population

DEFAULT_CHUNK_SIZE = 500
#: The presets of the paper's source and target domains: `load_paper_domains`'s defaults (written out
#: there too, so that the rendered signature shows them).
PAPER_DOMAINS = ("paper-source", "paper-target")
PAPER_SPLIT = (0.7, 0.9)  # train rows [0, 70%), test [70%, 90%), validation [90%, 100%)

_MASS, _SHEAR = "PLANE_1-OBJECT_1-MASS_PROFILE_1", "PLANE_1-OBJECT_1-SHEAR_PROFILE_1"
_LENS_LIGHT, _SOURCE_LIGHT = "PLANE_1-OBJECT_1-LIGHT_PROFILE_1", "PLANE_2-OBJECT_1-LIGHT_PROFILE_1"
LENS_PARAMETERS: dict[str, str] = {
    "theta_E": f"{_MASS}-theta_E-g",
    "e1": f"{_MASS}-e1-g",
    "e2": f"{_MASS}-e2-g",
    "center_x": f"{_MASS}-center_x-g",
    "center_y": f"{_MASS}-center_y-g",
    "gamma1": f"{_SHEAR}-gamma1-g",
    "gamma2": f"{_SHEAR}-gamma2-g",
    "lens_magnitude": f"{_LENS_LIGHT}-magnitude-g",
    "source_magnitude": f"{_SOURCE_LIGHT}-magnitude-g",
    "source_R_sersic": f"{_SOURCE_LIGHT}-R_sersic-g",
    "source_n_sersic": f"{_SOURCE_LIGHT}-n_sersic-g",
    "source_e1": f"{_SOURCE_LIGHT}-e1-g",
    "source_e2": f"{_SOURCE_LIGHT}-e2-g",
    "lens_R_sersic": f"{_LENS_LIGHT}-R_sersic-g",
    "lens_n_sersic": f"{_LENS_LIGHT}-n_sersic-g",
    "lens_light_e1": f"{_LENS_LIGHT}-e1-g",
    "lens_light_e2": f"{_LENS_LIGHT}-e2-g",
    "source_center_x": f"{_SOURCE_LIGHT}-center_x-g",
    "source_center_y": f"{_SOURCE_LIGHT}-center_y-g",
    "lens_redshift": "PLANE_1-OBJECT_1-REDSHIFT-g",
    "source_redshift": "PLANE_2-OBJECT_1-REDSHIFT-g",
}
"""Short names of the lens-system parameters and their deeplenstronomy metadata columns (g band).

The names that [`simulate_lenses`][sklens.simulation.simulate_lenses] and
[`load_paper_domains`][sklens.simulation.load_paper_domains] accept as ``targets``. In the paper presets the
first 13 (``theta_E`` to ``source_e2``) vary; the others (``lens_R_sersic`` to ``source_redshift``) are fixed.
"""


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def chunk_seed(seed: int, index: int) -> int:
    """deeplenstronomy's SEED for chunk ``index``: independent of n and of n_jobs."""
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])


def _chunk_sizes(n: int, chunk_size: int) -> list[int]:
    sizes = [chunk_size] * (n // chunk_size)
    return sizes + [n % chunk_size] if n % chunk_size else sizes


def _chunk_plan(directory: Path, n: int, chunk_size: int) -> tuple[list[int], list[Path]]:
    """The size and cache file of each chunk of ``n`` lenses in a cache ``directory``."""
    sizes = _chunk_sizes(n, chunk_size)
    return sizes, [_cache.chunk_path(directory, i) for i in range(len(sizes))]


def uncached_lenses(
    config: str | os.PathLike,
    n: int,
    *,
    random_state=None,
    cache_dir: str | os.PathLike | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """How many of the lenses of a [`simulate_lenses`][sklens.simulation.simulate_lenses] call with these
    arguments its cache does not hold yet: the images it would simulate. Reads nothing but the cache's
    file names.

    Examples
    --------
    >>> uncached_lenses("paper-source", 16, random_state=0)  # no cache: every lens
    16
    """
    n = _check_positive_int(n, "n")
    chunk_size = _check_positive_int(chunk_size, "chunk_size")
    if cache_dir is None:
        return n
    key, _ = _cache.cache_key(load_config(config).text, n, resolve_seed(random_state), chunk_size)
    sizes, paths = _chunk_plan(Path(cache_dir).expanduser() / key, n, chunk_size)
    return sum(size for size, path in zip(sizes, paths, strict=True) if not path.exists())


def _simulate_chunk(config: SimulationConfig, n_images: int, seed: int, path: Path) -> int:
    """Simulate one chunk (in a worker process) and store it atomically at ``path``."""
    images, metadata = _adapter.simulate(
        config.deeplenstronomy,
        n_images,
        seed,
        path.parent,
        noiseless=config.noiseless,
        source=config.source,
    )
    if len(config.deeplenstronomy["GEOMETRY"]) > 1:
        # deeplenstronomy returns configurations one after the other; mix them within the chunk.
        order = np.random.default_rng(seed).permutation(n_images)
        images, metadata = images[order], metadata.iloc[order].reset_index(drop=True)
    _cache.write_chunk(path, images, metadata)
    return n_images


def _check_targets(targets: Sequence[str] | None, config: SimulationConfig) -> list[str] | None:
    """Validate the short names of ``targets`` (before anything is simulated)."""
    if targets is None:
        return None
    names = [] if isinstance(targets, str) or not np.iterable(targets) else [str(t) for t in targets]
    if not names:
        raise ValueError(
            f"targets must be a non-empty list of parameter names, e.g. ['theta_E']; got {targets!r}."
        )
    unknown = [name for name in names if name not in LENS_PARAMETERS]
    if unknown:
        raise ValueError(f"unknown targets {unknown}; the valid names are {list(LENS_PARAMETERS)}.")
    if len(set(names)) < len(names):
        raise ValueError(f"targets lists a parameter twice: {names}.")
    if config.classes:
        raise ValueError(
            f"targets cannot be used with the classification classes (SKLENS.CLASSES) of the {config.source}."
        )
    return names


def _with_populations(config: SimulationConfig, populations: Mapping[str, Population]) -> SimulationConfig:
    """``config`` with each named parameter drawn from its population's histogram (``sklens_binned``)."""
    import copy

    import yaml

    from sklens.population import Population

    if not isinstance(populations, Mapping):
        raise TypeError(
            "populations must map parameter names to populations, e.g. {'theta_E': population}; got "
            f"{type(populations).__name__}."
        )
    if not populations:
        return config
    parsed = copy.deepcopy(config.deeplenstronomy)
    for name, population in populations.items():
        if name not in LENS_PARAMETERS:
            raise ValueError(
                f"populations: unknown parameter {name!r}; the valid names are {list(LENS_PARAMETERS)}."
            )
        if not isinstance(population, Population):
            raise TypeError(
                f"populations[{name!r}] must be a sklens.population.Population; got {population!r}."
            )
        parts = LENS_PARAMETERS[name].split("-")
        if len(parts) != 5:
            raise ValueError(
                f"populations: {name} is not a profile parameter (it is a plane's {parts[2]}); only the "
                "parameters of a light, mass or shear profile can be drawn from a population."
            )
        plane, slot, profile, parameter, _ = parts
        distribution = {
            "DISTRIBUTION": {
                "NAME": "sklens_binned",
                "PARAMETERS": {"edges": population.edges.tolist(), "weights": population.weights.tolist()},
            }
        }
        for configuration in parsed["GEOMETRY"].values():
            species = configuration.get(plane, {}).get(slot)
            entry = next((e for e in parsed["SPECIES"].values() if e.get("NAME") == species), None)
            parameters = (entry or {}).get(profile, {}).get("PARAMETERS", {})
            if parameter not in parameters:
                raise ValueError(
                    f"populations: the {config.source} does not draw {name} ({plane} {slot} {profile} "
                    f"{parameter}) in every configuration."
                )
            parameters[parameter] = distribution
    options = {"IMAGES": "noiseless" if config.noiseless else "observed"}
    if config.target_explicit:
        options["TARGET"] = config.target_column
    if config.classes:
        options["CLASSES"] = config.classes
    header = f"# The {config.source} with {', '.join(populations)} drawn from populations (sklens_binned).\n"
    text = header + yaml.safe_dump({**parsed, "SKLENS": options}, sort_keys=False)
    return dataclasses.replace(config, text=text, deeplenstronomy=parsed)


def _check_columns(config: SimulationConfig, columns, targets: list[str] | None) -> None:
    """Refuse an SKLENS.TARGET or ``targets`` that the configuration's metadata does not hold."""
    if config.target_explicit and config.target_column not in columns:
        raise ValueError(
            f"SKLENS.TARGET {config.target_column!r} of the {config.source} is not a metadata "
            f"column; deeplenstronomy makes columns such as {list(columns)[:3]}."
        )
    missing = [name for name in targets or () if LENS_PARAMETERS[name] not in columns]
    if missing:
        raise ValueError(
            f"targets {missing} are not drawn by the {config.source}: it has no metadata column "
            f"{[LENS_PARAMETERS[name] for name in missing]} (the g band)."
        )


def _run_pending(config, jobs, n_jobs, progress_bar, targets) -> int:
    """Simulate the chunks in ``jobs`` [(size, seed, path)], updating the progress bar."""
    if not jobs:
        return 0
    # With workers, the check runs in them, so the parent never imports deeplenstronomy (~200 MB of
    # resident memory saved next to the assembled images). Every worker that will simulate runs it at
    # once, so that each imports deeplenstronomy (seconds; more where Python cannot cache compiled
    # bytecode) beside the others, not after the first has checked; the checks are alike.
    workdir = jobs[0][2].parent
    check = delayed(_adapter.validate_config)(config.deeplenstronomy, config.source, workdir)
    columns = Parallel(n_jobs=n_jobs)([check] * min(effective_n_jobs(n_jobs), len(jobs)))[0]
    _check_columns(config, columns, targets)
    tasks = (delayed(_simulate_chunk)(config, size, seed, path) for size, seed, path in jobs)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for n_done in parallel(tasks):
        progress_bar.update(n_done)
    return len(jobs)


def _assemble(paths: list[Path], n: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Read the chunks into one preallocated float32 array and one DataFrame."""
    import pandas as pd

    images, metadata, start = None, [], 0
    for path in paths:
        chunk_images, chunk_metadata = _cache.read_chunk(path)
        if images is None:
            images = np.empty((n, *chunk_images.shape[1:]), dtype=np.float32)
        images[start : start + len(chunk_images)] = chunk_images
        start += len(chunk_images)
        metadata.append(chunk_metadata)
    return images, pd.concat(metadata, ignore_index=True)


def _target_from(config: SimulationConfig, metadata: pd.DataFrame) -> np.ndarray | None:
    """The target column, as float32 (regression) or int64 classes (with SKLENS.CLASSES)."""
    if config.target_column not in metadata.columns:
        return None
    values = metadata[config.target_column]
    if not config.classes:
        return values.to_numpy(dtype=np.float32)
    unknown = sorted(set(values) - set(config.classes))
    if unknown:
        raise ValueError(
            f"SKLENS.CLASSES of the {config.source} has no class for {unknown} "
            f"(column {config.target_column!r})."
        )
    return values.map(config.classes).to_numpy(dtype=np.int64)


def _parameters_from(metadata: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``LENS_PARAMETERS`` that ``metadata`` holds, under their short names."""
    present = {column: name for name, column in LENS_PARAMETERS.items() if column in metadata.columns}
    return metadata[list(present)].rename(columns=present)


def _targets_from(parameters: pd.DataFrame, targets: list[str], source: str) -> np.ndarray:
    """float32 (n, k) of ``targets``, warning about any that has one value in every image."""
    constant = [name for name in targets if len(parameters) > 1 and parameters[name].nunique() == 1]
    if constant:
        warnings.warn(
            f"targets {constant} take one value in every image of the {source}: nothing to learn there.",
            UserWarning,
            stacklevel=3,
        )
    return parameters[targets].to_numpy(dtype=np.float32)


def simulate_lenses(
    config: str | os.PathLike,
    n: int,
    *,
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike | None = None,
    return_X_y: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    targets: Sequence[str] | None = None,
    populations: Mapping[str, Population] | None = None,
) -> Bunch | tuple[np.ndarray, np.ndarray | None]:
    """Simulate ``n`` strong-lens images with deeplenstronomy, reproducibly and in parallel.

    The images are made in chunks of ``chunk_size``; chunk ``i`` is seeded from ``random_state``
    and ``i`` only, so the result is bit-identical whatever ``n_jobs`` is. Finished chunks are
    stored in ``cache_dir``: a second identical call reads them back without simulating, and an
    interrupted call resumes from them.

    Parameters
    ----------
    config : str or path-like
        A preset name (``'paper-source'``, ``'paper-target'``, ``'des-target'``,
        ``'noiseless-source'``, ``'lens-finding'``; see [`preset_names`][sklens.simulation.preset_names]) or
        the path of a deeplenstronomy YAML file. Its DATASET SIZE, SEED and OUTDIR are replaced (by ``n``, the
        per-chunk seeds and a private temporary directory).
    n : int
        Number of images; exactly ``n`` come back.
    random_state : int, numpy.random.RandomState or None
        Seed. None draws a fresh one, returned as ``random_state`` in the result.
    n_jobs : int
        Worker processes (joblib); -1 uses every core.
    cache_dir : str, path-like or None
        Directory for the chunk cache (created if needed). None simulates in a temporary
        directory that is removed afterwards (nothing is kept).
    return_X_y : bool
        Return ``(images, target)`` instead of a Bunch.
    chunk_size : int
        Images per chunk (the unit of parallel work, of caching and of seeding; changing it
        changes the images).
    progress : bool
        Show a progress bar with an ETA.
    targets : list of str, optional
        Short names of the parameters to return as ``target``, in that order (keys of
        [`LENS_PARAMETERS`][sklens.simulation.LENS_PARAMETERS], e.g. ``['theta_E', 'e1', 'e2']``).
        Unknown names raise a ``ValueError`` listing the valid ones before anything is simulated;
        a parameter with one value in every image (fixed by the configuration) gives a
        ``UserWarning``. None returns the configuration's target (theta_E for the lens-modelling
        presets). Not with a classification configuration (``SKLENS.CLASSES``).
    populations : mapping of str to Population, optional
        Parameters to draw from another population than the configuration's: short names (keys of
        ``LENS_PARAMETERS``) to a [`Population`][sklens.population.Population], whose histogram
        (uniform within each bin) replaces the parameter's distribution in every configuration of the
        GEOMETRY. To simulate the source again under a population estimated from survey images
        (``PriorShiftRegressor(...).population_``; see
        [`PopulationSimulator`][sklens.simulation.PopulationSimulator]). The changed configuration is
        the result's ``config`` and its own cache entry.

    Returns
    -------
    sklearn.utils.Bunch or tuple
        ``images``: float32 array (n, n_bands, H, W) in e-/s. ``target``: with ``targets``, float32
        (n, k) of those parameters; without, the Einstein radius theta_E in arcsec (float32, (n,))
        for the lens-modelling presets, the class (int64, 1 = lens) for ``'lens-finding'``, or None
        for a YAML file without the default theta_E column and without an ``SKLENS.TARGET``.
        ``target_names``: the ``targets``, or class names by class value (classification only).
        ``parameters``: DataFrame of every parameter of ``LENS_PARAMETERS`` that the configuration
        draws, under its short name, one row per image.
        ``metadata``: DataFrame of every drawn parameter, one row per image. ``config``: the YAML
        text used. ``random_state``: the seed used. ``cache_path``: the cache directory of this call
        (None without ``cache_dir``). ``n_simulated_chunks``: chunks simulated by this call (0 when
        everything came from the cache).

    Examples
    --------
    >>> from sklens.simulation import simulate_lenses
    >>> data = simulate_lenses("paper-source", 16, random_state=0, progress=False)
    >>> data.images.shape, data.images.dtype
    ((16, 1, 40, 40), dtype('float32'))
    >>> X, y = simulate_lenses("paper-target", 16, random_state=0, return_X_y=True, progress=False)
    >>> simulate_lenses("paper-source", 4, targets=["theta_E", "e1"], progress=False).target.shape
    (4, 2)
    """
    n = _check_positive_int(n, "n")
    chunk_size = _check_positive_int(chunk_size, "chunk_size")
    n_jobs = check_n_jobs(n_jobs)
    check_extras("sim", user="sklens.simulation")
    parsed = load_config(config)
    targets = _check_targets(targets, parsed)
    if populations is not None:
        parsed = _with_populations(parsed, populations)
    seed = resolve_seed(random_state)
    key, description = _cache.cache_key(parsed.text, n, seed, chunk_size)
    with ExitStack() as stack:
        if cache_dir is None:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sklens-sim-")))
        else:
            base = _cache.prepare_directory(cache_dir)
        directory = base / key
        directory.mkdir(exist_ok=True)
        _cache.remove_temporaries(directory)
        _cache.write_manifest(directory, description, parsed.text)
        sizes, paths = _chunk_plan(directory, n, chunk_size)
        jobs = [
            (size, chunk_seed(seed, i), path)
            for i, (size, path) in enumerate(zip(sizes, paths, strict=True))
            if not path.exists()
        ]
        done = sum(size for size, path in zip(sizes, paths, strict=True) if path.exists())
        with tqdm(total=n, initial=done, unit="img", desc=str(config), disable=not progress) as bar:
            n_simulated = _run_pending(parsed, jobs, n_jobs, bar, targets)
        images, metadata = _assemble(paths, n)
    _check_columns(parsed, metadata.columns, targets)
    parameters = _parameters_from(metadata)
    target = (
        _target_from(parsed, metadata)
        if targets is None
        else _targets_from(parameters, targets, parsed.source)
    )
    if return_X_y:
        return images, target
    result = Bunch(
        images=images,
        target=target,
        parameters=parameters,
        metadata=metadata,
        config=parsed.text,
        random_state=seed,
        cache_path=directory if cache_dir is not None else None,
        n_simulated_chunks=n_simulated,
    )
    if parsed.classes:
        result.target_names = sorted(parsed.classes, key=parsed.classes.get)
    if targets is not None:
        result.target_names = targets
    return result


def _split(data: Bunch) -> Bunch:
    """Sequential 70/10/20 split as in the paper: train, then test, then validation rows."""
    n = len(data.images)
    train_end, test_end = (round(fraction * n) for fraction in PAPER_SPLIT)
    parts = {"train": slice(0, train_end), "test": slice(train_end, test_end)}
    parts["validation"] = slice(test_end, n)
    split = Bunch(
        **{
            name: Bunch(
                images=data.images[rows],
                target=data.target[rows],
                parameters=data.parameters.iloc[rows].reset_index(drop=True),
                metadata=data.metadata.iloc[rows].reset_index(drop=True),
            )
            for name, rows in parts.items()
        },
        config=data.config,
        random_state=data.random_state,
    )
    if "target_names" in data:
        split.target_names = data.target_names
    return split


def load_paper_domains(
    n: int,
    *,
    random_state: int | np.random.RandomState | None = 10,
    n_jobs: int = 1,
    cache_dir: str | os.PathLike | None = None,
    source: str | os.PathLike = "paper-source",
    target: str | os.PathLike = "paper-target",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    targets: Sequence[str] | None = None,
) -> Bunch:
    """Simulate the paper's source and target domains and split each 70/10/20 as the paper did.

    The split is sequential, not shuffled (the images are already in random order): rows
    [0, 70%) are ``train``, [70%, 90%) ``test`` and [90%, 100%) ``validation``. Both domains use
    the same ``random_state``, as the paper used SEED 10 for both.

    Parameters
    ----------
    n : int
        Images per domain.
    random_state : int, numpy.random.RandomState or None
        Seed of both domains (default 10, the paper's SEED).
    n_jobs : int
        Worker processes.
    cache_dir : str, path-like or None
        Chunk cache directory, as in [`simulate_lenses`][sklens.simulation.simulate_lenses].
    source : str or path-like
        Preset or YAML file of the source domain.
    target : str or path-like
        Preset or YAML file of the target domain. ``target='des-target'`` gives the DES conditions
        with the corrected sky brightness instead of deeplenstronomy 0.0.2.3's.
    chunk_size : int
        Images per chunk, as in [`simulate_lenses`][sklens.simulation.simulate_lenses].
    progress : bool
        Show progress bars.
    targets : list of str, optional
        Short names of the parameters to return as ``target``, as in
        [`simulate_lenses`][sklens.simulation.simulate_lenses]; None gives theta_E alone.

    Returns
    -------
    sklearn.utils.Bunch
        ``source`` and ``target``, each a Bunch with ``train``, ``test`` and ``validation`` (each a
        Bunch of ``images``, ``target`` (theta_E in arcsec, or float32 (n, k) of ``targets``),
        ``parameters`` and ``metadata``), ``config``, ``random_state`` and, with ``targets``,
        ``target_names``.

    Examples
    --------
    >>> from sklens.simulation import load_paper_domains
    >>> domains = load_paper_domains(20, progress=False)
    >>> domains.source.train.images.shape, domains.target.test.images.shape
    ((14, 1, 40, 40), (4, 1, 40, 40))
    """
    options = dict(
        random_state=resolve_seed(random_state),
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        chunk_size=chunk_size,
        progress=progress,
        targets=targets,
    )
    return Bunch(
        source=_split(simulate_lenses(source, n, **options)),
        target=_split(simulate_lenses(target, n, **options)),
    )


class PopulationSimulator:
    """Simulate a source again with one parameter drawn from a population.

    The ``simulator`` of [`PriorShiftRegressor`][sklens.prior_shift.PriorShiftRegressor]: called with
    the population estimated from the survey's images, it simulates ``n`` new source lenses whose
    ``parameter`` follows it (every other parameter as the configuration draws it), so that the
    regressor can be trained again on a simulation whose prior is the survey's population. A plain
    object (it pickles, and sklearn's ``clone`` copies it).

    Parameters
    ----------
    config : str or path-like
        The source's preset or YAML file, as for [`simulate_lenses`][sklens.simulation.simulate_lenses].
    n : int
        Lenses per simulation.
    parameter : str
        The parameter drawn from the population: a key of ``LENS_PARAMETERS``.
    transform : callable, optional
        Applied to the images before they are returned (the pixel scaling the source had, say); it
        must pickle to run in worker processes.
    targets : list of str, optional
        The labels returned, as in ``simulate_lenses`` (None: the configuration's, θ_E for the presets).
    n_jobs : int
        Simulation processes.
    cache_dir : path-like, optional
        Simulation cache, as in ``simulate_lenses`` (None keeps nothing).
    progress : bool
        Show a progress bar.

    Examples
    --------
    >>> from sklens.population import Population
    >>> simulator = PopulationSimulator("paper-source", 8, progress=False)
    >>> X, y = simulator(Population([0.5, 1.0, 3.0], [1.0, 0.0]), random_state=0)
    >>> X.shape, bool(((y >= 0.5) & (y <= 1.0)).all())
    ((8, 1, 40, 40), True)
    """

    def __init__(
        self,
        config: str | os.PathLike,
        n: int,
        parameter: str = "theta_E",
        *,
        transform=None,
        targets: Sequence[str] | None = None,
        n_jobs: int = 1,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.n = n
        self.parameter = parameter
        self.transform = transform
        self.targets = targets
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.progress = progress

    def __call__(self, population: Population, random_state: int) -> tuple[np.ndarray, np.ndarray]:
        """Simulate ``n`` lenses with ``parameter`` drawn from ``population``.

        Parameters
        ----------
        population : Population
            The population to draw the parameter from.
        random_state : int
            Seed of the simulation.

        Returns
        -------
        X : numpy.ndarray of shape (n, n_bands, H, W)
            The images (transformed, with ``transform``).
        y : numpy.ndarray
            Their labels.
        """
        images, target = simulate_lenses(
            self.config,
            self.n,
            random_state=random_state,
            n_jobs=self.n_jobs,
            cache_dir=self.cache_dir,
            progress=self.progress,
            targets=self.targets,
            populations={self.parameter: population},
            return_X_y=True,
        )
        return (images if self.transform is None else self.transform(images)), target

    def __repr__(self) -> str:
        return f"PopulationSimulator({self.config!r}, {self.n}, {self.parameter!r})"
