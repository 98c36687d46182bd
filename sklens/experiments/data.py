"""The paper's simulated domains as the experiments train on them: each scaled by its own pixel scale.

[`load_scaled_domains`][sklens.experiments.data.load_scaled_domains] simulates (or reads from the cache)
the source and target domains of Swierc et al. (2023), splits each 70/10/20 as the paper did, and divides
each domain's images by a statistic of its own unlabelled training images
([`domain_scales`][sklens.experiments.data.domain_scales],
[`scale_pixels`][sklens.experiments.data.scale_pixels]): what ``sklens reproduce`` and ``sklens
uncertainty`` train and test on, for studies, examples and your own models.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial

import numpy as np
from sklearn.utils import Bunch

#: Pixel scalings: ``per-domain`` divides each domain by the pixel standard deviation of its own training
#: split; ``raw`` keeps deeplenstronomy's counts (the paper's); ``asinh`` takes ``arcsinh`` of the
#: per-domain scaled pixels (linear for the bulk, logarithmic for the brightest images).
SCALINGS = ("per-domain", "raw", "asinh")
DOMAINS = ("source", "target")


def load_scaled_domains(
    n: int,
    *,
    data_seed: int = 10,
    scaling: str = "per-domain",
    n_jobs: int = 1,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    targets: Sequence[str] | None = None,
    target: str | os.PathLike = "paper-target",
) -> Bunch:
    """The paper's source and target domains, split 70/10/20, each scaled by its own training pixels.

    Parameters
    ----------
    n : int
        Lenses per domain.
    data_seed : int
        Seed of both simulated domains (10, the paper's SEED).
    scaling : {'per-domain', 'raw', 'asinh'}
        Pixel scaling, see `SCALINGS`.
    n_jobs : int
        Simulation processes.
    cache_dir : path-like, optional
        Simulation cache, as in [`simulate_lenses`][sklens.simulation.simulate_lenses].
    progress : bool
        Show progress bars.
    targets : sequence of str, optional
        Lens parameters to return as the target (names of
        [`LENS_PARAMETERS`][sklens.simulation.LENS_PARAMETERS]); None gives theta_E alone, of shape (n,).
    target : str or path-like
        Preset or YAML file of the target domain: the paper's by default; e.g.
        ``'paper-target-lognormal'`` for its observing conditions with another lens population.

    Returns
    -------
    sklearn.utils.Bunch
        ``train``, ``test`` and ``validation``: each a dict from domain (``'source'``, ``'target'``) to
        its scaled images and target; ``scales``: the pixel scale of each domain (source, target).

    Raises
    ------
    ValueError
        If ``scaling`` is not one of ``SCALINGS``.

    Examples
    --------
    >>> from sklens.experiments.data import load_scaled_domains
    >>> data = load_scaled_domains(40, progress=False)  # doctest: +SKIP
    >>> X_src, y_src = data.train["source"]  # doctest: +SKIP
    >>> X_src.shape, data.test["target"][0].shape  # doctest: +SKIP
    ((28, 1, 40, 40), (8, 1, 40, 40))
    """
    from sklens.simulation import load_paper_domains

    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; choose one of {list(SCALINGS)}.")
    domains = load_paper_domains(
        n,
        random_state=data_seed,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        progress=progress,
        targets=targets,
        target=target,
    )
    scales = domain_scales(domains.source.train.images, domains.target.train.images, scaling)
    scale = {d: partial(scale_pixels, scale=s, scaling=scaling) for d, s in zip(DOMAINS, scales, strict=True)}
    return Bunch(
        **{
            part: {
                domain: (scale[domain](domains[domain][part].images), domains[domain][part].target)
                for domain in DOMAINS
            }
            for part in ("train", "test", "validation")
        },
        scales=scales,
    )


def domain_scales(X_src: np.ndarray, X_tgt: np.ndarray, scaling: str) -> tuple[float, float]:
    """Pixel scale of each domain: its training split's standard deviation, or 1 for raw pixels.

    Only unlabelled images enter, so the target's scale is a legitimate statistic of survey data.

    Parameters
    ----------
    X_src : ndarray
        The source's training images.
    X_tgt : ndarray
        The target's training images.
    scaling : str
        Pixel scaling, ``'per-domain'``, ``'raw'`` or ``'asinh'`` (see `SCALINGS`).

    Returns
    -------
    tuple of float
        The source's and the target's scale.

    Examples
    --------
    >>> import numpy as np
    >>> domain_scales(np.array([1.0, 3.0]), np.array([0.0, 4.0]), "per-domain")
    (1.0, 2.0)
    >>> domain_scales(np.array([1.0, 3.0]), np.array([0.0, 4.0]), "raw")
    (1.0, 1.0)
    """
    if scaling == "raw":
        return 1.0, 1.0
    return float(np.std(X_src)), float(np.std(X_tgt))


def scale_pixels(images: np.ndarray, scale: float, scaling: str) -> np.ndarray:
    """Divide by the domain's pixel scale; with ``asinh``, then take ``arcsinh`` (float32 kept).

    Parameters
    ----------
    images : ndarray
        A domain's images.
    scale : float
        Its pixel scale (see [`domain_scales`][sklens.experiments.data.domain_scales]).
    scaling : str
        Pixel scaling, ``'per-domain'``, ``'raw'`` or ``'asinh'`` (see `SCALINGS`).

    Returns
    -------
    ndarray
        The scaled images, a new array of the dtype of ``images`` (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> scale_pixels(np.array([0.0, 2.0], dtype=np.float32), 2.0, "per-domain")
    array([0., 1.], dtype=float32)
    """
    scaled = images / np.float32(scale)
    return np.arcsinh(scaled, out=scaled) if scaling == "asinh" else scaled
