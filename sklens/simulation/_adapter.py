"""The only module of sklens that touches deeplenstronomy.

deeplenstronomy 0.0.2.3 (its last release) has defects on today's stack; each is handled here:

1. Every image builds an astropy ``FlatLambdaCDM`` (~83% of the run time): the constructor that
   ``deeplenstronomy.image_generator`` uses is replaced, for the duration of a call, by a cached one
   (bit-identical output, ~7x faster).
2. lenstronomy >= 1.14.1 renamed ``SimAPI(numpix=...)`` to ``num_pix``: the ``SimAPI`` it uses is
   replaced by a wrapper that passes the size positionally (works with 1.14.0 and later).
3. Importing it silences every warning in the process, and every call reseeds Python's and numpy's
   global random generators: ``warnings.filters`` and both random states are saved and restored
   around the import and around every call.
4. The first system of each configuration comes back with NaN redshifts and is dropped: SIZE is
   raised so that exactly the requested number of images of each configuration comes back.
5. ``make_dataset(dict)`` fails: the configuration is written to a temporary YAML file.
6. It always writes ``OUTDIR/*_sim_dicts.npy`` (and creates OUTDIR with a shell ``mkdir``):
   OUTDIR is a private directory inside ``workdir``, created here and removed afterwards.
7. Its sky brightness unit bug (GitHub issue #139): the ``sklens_des_sky_brightness_cps``
   distribution, registered for the duration of a call, draws ``des_sky_brightness`` with the same
   random stream and converts magnitudes to counts/s with
   ``lenstronomy.Util.data_util.magnitude2cps``.
8. Populations of Einstein radii other than its uniform one (``sklens_truncated_lognormal``,
   ``sklens_des_einstein_radii``, see ``sklens.simulation._populations``) are registered as its
   distributions for the duration of a call, as the corrected sky brightness is.
9. A rejected configuration only prints its reasons and raises a bare ``ConfigFileError``: the
   printed text is captured and raised as a ``ValueError`` naming the file.

The patches are applied only inside ``deeplenstronomy_session`` and undone on exit, so a user's
own use of deeplenstronomy in the same process sees the stock package.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sklens._atomic import TEMPORARY_SUFFIX
from sklens._optional import import_optional
from sklens.simulation._populations import distributions as population_distributions

if TYPE_CHECKING:
    import pandas as pd

CORRECTED_SKY_DISTRIBUTION = "sklens_des_sky_brightness_cps"
NOISE_FREE_PLANES = slice(0, 3)  # lens light, lensed source light, point sources


@contextlib.contextmanager
def preserved_global_state() -> Iterator[None]:
    """Restore ``warnings.filters`` and Python's and numpy's global random states on exit."""
    saved_python_state = random.getstate()
    # The legacy global generator is exactly what deeplenstronomy reseeds.
    saved_numpy_state = np.random.get_state()  # noqa: NPY002
    try:
        with warnings.catch_warnings():  # restores warnings.filters and showwarning on exit
            yield
    finally:
        random.setstate(saved_python_state)
        np.random.set_state(saved_numpy_state)  # noqa: NPY002


@functools.cache
def _modules() -> dict:
    """Import deeplenstronomy and the modules patched here, leaving the caller's state alone."""
    with preserved_global_state():
        return {
            name: import_optional(name, "sim", "sklens.simulation")
            for name in (
                "deeplenstronomy.deeplenstronomy",
                "deeplenstronomy.image_generator",
                "deeplenstronomy.distributions",
                "deeplenstronomy.input_reader",
                "deeplenstronomy.check",
                "lenstronomy.Util.data_util",
            )
        }


def ensure_available() -> None:
    """Import deeplenstronomy now, raising an ImportError that says how to install it."""
    _modules()


def _cached_cosmology(constructor):
    """Wrap the cosmology constructor so identical arguments return the same (immutable) object."""
    cached = functools.lru_cache(maxsize=64)(constructor)

    def build(**kwargs):
        try:
            return cached(**kwargs)
        except TypeError:  # unhashable arguments (e.g. a list of neutrino masses)
            return constructor(**kwargs)

    return build


def _positional_simapi(simapi_class):
    """Call ``SimAPI`` with the image size positionally: it was renamed in lenstronomy 1.14.1."""

    def build(numpix, kwargs_single_band, kwargs_model):
        return simapi_class(numpix, kwargs_single_band, kwargs_model)

    return build


def _corrected_sky_brightness(distributions, data_util):
    """A drop-in for ``des_sky_brightness`` that returns counts/s/arcsec^2 instead of magnitudes.

    The magnitudes are drawn by ``des_sky_brightness`` itself, so the random stream is unchanged;
    the DES zero points are a fixed table per band (``des_magnitude_zero_point`` draws nothing).
    """

    def sklens_des_sky_brightness_cps(bands=""):
        magnitudes = distributions.des_sky_brightness(bands=bands)
        zero_points = distributions.des_magnitude_zero_point(bands=bands)
        pairs = zip(magnitudes, zero_points, strict=True)
        return [float(data_util.magnitude2cps(m, zp)) for m, zp in pairs]

    return sklens_des_sky_brightness_cps


_RANDOM_USERS = (
    "deeplenstronomy.deeplenstronomy",
    "deeplenstronomy.distributions",
    "deeplenstronomy.input_reader",
)


@contextlib.contextmanager
def _replaced_random(modules: list, generator: random.Random) -> Iterator[None]:
    """Point each module's ``random`` name at ``generator`` for the block, then restore it."""
    originals = [module.random for module in modules]
    for module in modules:
        module.random = generator
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.random = original


@contextlib.contextmanager
def deeplenstronomy_session() -> Iterator[dict]:
    """Apply the workarounds for the duration of the block and undo them all on exit."""
    modules = _modules()
    image_generator = modules["deeplenstronomy.image_generator"]
    distributions = modules["deeplenstronomy.distributions"]
    original_cosmology = image_generator.FlatLambdaCDM
    original_simapi = image_generator.SimAPI
    # deeplenstronomy seeds and draws from Python's global ``random`` module. Another thread of the
    # process (a Dask worker's event loop draws back-off jitter from it) would perturb that stream,
    # so the draws go to a private generator, seeded the same way: the same numbers, and no one
    # else's. (Seen as a chunk that differed from the single-process run on a Dask worker.)
    private_random = random.Random()
    users_of_random = [modules[name] for name in _RANDOM_USERS]
    with preserved_global_state(), _replaced_random(users_of_random, private_random):
        # lenstronomy emits ~8 deprecation/user warnings per image; they say nothing about the data.
        warnings.simplefilter("ignore")
        image_generator.FlatLambdaCDM = _cached_cosmology(original_cosmology)
        image_generator.SimAPI = _positional_simapi(original_simapi)
        registered = {
            CORRECTED_SKY_DISTRIBUTION: _corrected_sky_brightness(
                distributions, modules["lenstronomy.Util.data_util"]
            ),
            **population_distributions(distributions),
        }
        for name, distribution in registered.items():
            setattr(distributions, name, distribution)
        try:
            yield modules
        finally:
            image_generator.FlatLambdaCDM = original_cosmology
            image_generator.SimAPI = original_simapi
            for name in registered:
                delattr(distributions, name)


def configuration_counts(geometry: dict, n_images: int) -> dict[str, int]:
    """Split ``n_images`` over the GEOMETRY configurations by their FRACTION (largest remainder)."""
    fractions = {name: float(conf["FRACTION"]) for name, conf in geometry.items()}
    total = sum(fractions.values())
    exact = {name: n_images * f / total for name, f in fractions.items()}
    counts = {name: math.floor(v) for name, v in exact.items()}
    by_remainder = sorted(exact, key=lambda name: exact[name] - counts[name], reverse=True)
    for name in by_remainder[: n_images - sum(counts.values())]:
        counts[name] += 1
    return counts


def _dataset_size(geometry: dict, counts: dict[str, int]) -> int:
    """The SIZE for which every configuration yields its count after the first system is dropped."""
    size = 1
    for name, conf in geometry.items():
        fraction = float(conf["FRACTION"])
        size = max(size, math.ceil((counts[name] + 1) / fraction - 1e-9))
        while int(size * fraction) < counts[name] + 1:  # deeplenstronomy truncates SIZE * FRACTION
            size += 1
    return size


def _write_config(config: dict, size: int, seed: int, outdir: Path) -> Path:
    """Write the configuration of one run, with its SIZE, SEED and private OUTDIR, as YAML."""
    import yaml

    run_config = dict(config)
    run_config["DATASET"] = dict(config["DATASET"])
    parameters = dict(config["DATASET"].get("PARAMETERS") or {})
    parameters.update(SIZE=int(size), SEED=int(seed), OUTDIR=str(outdir))
    run_config["DATASET"]["PARAMETERS"] = parameters
    path = outdir / "config.yaml"
    # pyyaml writes floats such as 1e30 as 1.0e+30, which YAML 1.1 (so deeplenstronomy) reads back
    # as a float; written as 1e30 it would be read as a string.
    path.write_text(yaml.safe_dump(run_config, sort_keys=False))
    return path


def _run_make_dataset(modules: dict, path: Path, source: str, **kwargs):
    """Call ``make_dataset`` on ``path``; a rejected configuration becomes a clear ValueError."""
    make_dataset = modules["deeplenstronomy.deeplenstronomy"].make_dataset
    config_error = modules["deeplenstronomy.check"].ConfigFileError
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return make_dataset(str(path), **kwargs)
    except config_error as exc:
        reasons = printed.getvalue().strip() or repr(exc)
        message = f"deeplenstronomy rejected the configuration {source}:\n{reasons}"
        raise ValueError(message) from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ValueError(
            f"deeplenstronomy failed on the configuration {source}: {type(exc).__name__}: {exc}"
        ) from exc


def validate_config(config: dict, source: str, workdir: str | os.PathLike) -> list[str]:
    """Let deeplenstronomy check ``config`` and draw its parameters for a tiny set, without images.

    Returns
    -------
    list of str
        The metadata columns deeplenstronomy makes for this configuration.

    Raises
    ------
    ValueError
        If deeplenstronomy rejects it; the message names ``source`` and gives its reasons.
    """
    counts = {name: 1 for name in config["GEOMETRY"]}
    with deeplenstronomy_session() as modules, _private_outdir(workdir) as outdir:
        path = _write_config(config, _dataset_size(config["GEOMETRY"], counts), 0, outdir)
        dataset = _run_make_dataset(modules, path, source, skip_image_generation=True)
        columns = {}
        for name in config["GEOMETRY"]:
            columns.update(dict.fromkeys(getattr(dataset, f"{name}_metadata").columns))
    return list(columns)


@contextlib.contextmanager
def _private_outdir(workdir: str | os.PathLike) -> Iterator[Path]:
    """A fresh directory inside ``workdir`` for deeplenstronomy's files, removed afterwards.

    Its name ends in ``.tmp`` so that the cache's clean-up also removes it after a hard kill.
    """
    outdir = Path(tempfile.mkdtemp(prefix="deeplenstronomy-", suffix=TEMPORARY_SUFFIX, dir=workdir))
    try:
        yield outdir
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def simulate(
    config: dict,
    n_images: int,
    seed: int,
    workdir: str | os.PathLike,
    *,
    noiseless: bool = False,
    source: str = "<config>",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulate exactly ``n_images`` images of ``config`` with deeplenstronomy seeded by ``seed``.

    Parameters
    ----------
    config : dict
        A deeplenstronomy configuration (already parsed YAML, without sklens' own section).
    n_images : int
        Number of images to return, split over the configurations by their FRACTION.
    seed : int
        deeplenstronomy's SEED, in [0, 2**32).
    workdir : path-like
        Existing directory under which deeplenstronomy may write its temporary files.
    noiseless : bool
        Return the sum of the noise-free planes (lens light, source light, point sources) instead
        of the observed images.
    source : str
        Where ``config`` came from, for error messages.

    Returns
    -------
    images : numpy.ndarray
        float32 array of shape (n_images, n_bands, numPix, numPix), in e-/s.
    metadata : pandas.DataFrame
        One row per image, one column per drawn parameter and band.
    """
    import pandas as pd

    geometry = config["GEOMETRY"]
    counts = configuration_counts(geometry, n_images)
    with deeplenstronomy_session() as modules, _private_outdir(workdir) as outdir:
        path = _write_config(config, _dataset_size(geometry, counts), seed, outdir)
        dataset = _run_make_dataset(modules, path, source, return_planes=noiseless)
        images, metadata = [], []
        for name in geometry:
            wanted = counts[name]
            if noiseless:
                planes = getattr(dataset, f"{name}_planes")[:wanted]
                images.append(planes[:, NOISE_FREE_PLANES].sum(axis=1).astype(np.float32))
            else:
                images.append(getattr(dataset, f"{name}_images")[:wanted].astype(np.float32))
            metadata.append(getattr(dataset, f"{name}_metadata").iloc[:wanted])
    return np.concatenate(images), pd.concat(metadata, ignore_index=True)


def stock_make_dataset(path: str | os.PathLike, **kwargs):
    """Run the unpatched ``make_dataset`` on a YAML file (for benchmarks); restore global state."""
    modules = _modules()
    with preserved_global_state():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            return modules["deeplenstronomy.deeplenstronomy"].make_dataset(str(path), **kwargs)
