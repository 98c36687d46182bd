"""Populations of Einstein radii that the presets' target domains draw from, as deeplenstronomy distributions.

The paper's simulations draw θ_E uniformly in [0.5″, 3″]; a survey's lenses do not. Two populations on
the same support, each a deeplenstronomy distribution that the adapter registers for the duration of a
simulation (inverse-CDF draws from deeplenstronomy's own ``random`` stream, so a seed gives the same
lenses every time):

- ``sklens_truncated_lognormal``: a log-normal of median ``median`` and log-width ``sigma``, truncated to
  [``minimum``, ``maximum``] (preset ``paper-target-lognormal``: median 1.2″, width 0.3);
- ``sklens_des_einstein_radii``: a forecast of the Einstein radii of the lenses a DES-like survey finds,
  made with the recipe of Collett (2015, ApJ 811, 20): singular isothermal lenses whose velocity
  dispersions follow the SDSS velocity dispersion function of Choi, Park & Vogeley (2007), uniform in
  comoving volume to z = 2, lensing sources with p(z) ∝ z² exp(-(z/1.3)^1.5) (median z ≈ 1.8); each
  lens counted by its cross-section (∝ θ_E²) and kept if its arcs are resolved in DES seeing,
  θ_E² > r_s² + (s/2)² with source size r_s = 0.25″ and seeing s = 0.9″ (Collett's criterion); then
  truncated to the simulation's support [0.5″, 3″]. A re-implementation of the recipe with these
  stated choices, not Collett's catalogue (preset ``paper-target-des-population``). Its median is
  0.85″: most lenses sit in the smallest bins.

A third, ``sklens_binned``, draws from a histogram (``edges``, ``weights``, uniform within each bin): what
``simulate_lenses(..., populations=...)`` puts in place of a parameter's distribution, to simulate again
under a population estimated from survey images.
"""

from __future__ import annotations

import functools

import numpy as np

#: The support of the paper's θ_E prior, which the populations share.
THETA_E_SUPPORT = (0.5, 3.0)


def truncated_lognormal_quantile(
    u: float, median: float, sigma: float, minimum: float, maximum: float
) -> float:
    """The ``u``-quantile of a log-normal (median, log-width sigma) truncated to [minimum, maximum]."""
    from scipy.special import ndtr, ndtri

    low, high = (np.log([minimum, maximum]) - np.log(median)) / sigma
    level = ndtr(low) + u * (ndtr(high) - ndtr(low))
    return float(np.exp(np.log(median) + sigma * ndtri(level)))


@functools.cache
def des_einstein_radius_table(n_draws: int = 400_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The DES-like forecast's θ_E values in increasing order and their cumulative weights, on the support.

    A Monte Carlo of the recipe in the module's description with a fixed seed (the same table on every
    machine).
    """
    from astropy.cosmology import FlatLambdaCDM

    cosmology = FlatLambdaCDM(H0=70, Om0=0.3)
    rng = np.random.default_rng(seed)
    # Choi et al. (2007): phi(sigma) ∝ (sigma/sigma*)^alpha exp(-(sigma/sigma*)^beta) / sigma, so that
    # (sigma/sigma*)^beta follows a Gamma(alpha/beta) distribution.
    sigma_star, alpha, beta = 161.0, 2.32, 2.67
    sigma = sigma_star * rng.gamma(alpha / beta, 1.0, n_draws) ** (1 / beta)
    z_lens = _draw(
        rng, np.linspace(0.01, 2.0, 2000), lambda z: cosmology.differential_comoving_volume(z).value, n_draws
    )
    z_source = _draw(rng, np.linspace(0.01, 6.0, 3000), lambda z: z**2 * np.exp(-((z / 1.3) ** 1.5)), n_draws)
    behind = z_source > z_lens + 0.1
    sigma, z_lens, z_source = sigma[behind], z_lens[behind], z_source[behind]
    distance_ratio = (
        cosmology.angular_diameter_distance_z1z2(z_lens, z_source).value
        / cosmology.angular_diameter_distance(z_source).value
    )
    theta = 4 * np.pi * (sigma / 299_792.458) ** 2 * distance_ratio * (180 / np.pi) * 3600  # arcsec
    weight = theta**2 * (theta**2 > 0.25**2 + (0.9 / 2) ** 2)  # cross-section x detectability
    inside = (theta >= THETA_E_SUPPORT[0]) & (theta <= THETA_E_SUPPORT[1]) & (weight > 0)
    order = np.argsort(theta[inside])
    cumulative = np.cumsum(weight[inside][order])
    return theta[inside][order], cumulative / cumulative[-1]


def _draw(rng: np.random.Generator, grid: np.ndarray, density, n: int) -> np.ndarray:
    cumulative = np.cumsum(density(grid))
    return np.interp(rng.uniform(size=n), cumulative / cumulative[-1], grid)


def distributions(module) -> dict:
    """The populations as distributions of deeplenstronomy's ``module`` (``deeplenstronomy.distributions``),
    drawing from the ``random`` it uses at the time of the draw."""

    def sklens_truncated_lognormal(median, sigma, minimum, maximum, bands=""):
        draw = truncated_lognormal_quantile(module.random.random(), median, sigma, minimum, maximum)
        return [draw] * len(bands.split(","))

    def sklens_des_einstein_radii(bands=""):
        values, cumulative = des_einstein_radius_table()
        draw = float(np.interp(module.random.random(), cumulative, values))
        return [draw] * len(bands.split(","))

    def sklens_binned(edges, weights, bands=""):
        draw = binned_quantile(module.random.random(), edges, weights)
        return [draw] * len(bands.split(","))

    return {
        "sklens_truncated_lognormal": sklens_truncated_lognormal,
        "sklens_des_einstein_radii": sklens_des_einstein_radii,
        "sklens_binned": sklens_binned,
    }


def binned_quantile(u: float, edges, weights) -> float:
    """The ``u``-quantile of the histogram density with these bin ``edges`` and ``weights`` (uniform
    within each bin): the inverse of its piecewise-linear cumulative distribution."""
    cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=float))])
    return float(np.interp(u, cumulative / cumulative[-1], np.asarray(edges, dtype=float)))
