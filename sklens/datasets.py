"""Small built-in toy lens sets: seconds to make, for tests, examples and quick starts.

For the paper's simulated domains use :mod:`sklens.simulation` (deeplenstronomy).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.utils import Bunch

PIXEL_SCALE = 0.263  # arcsec per pixel, as DES and the paper


def make_toy_lenses(
    n: int = 500,
    *,
    domain: str = "source",
    image_size: int = 32,
    random_state=None,
) -> Bunch:
    """Make toy lens images whose label is the Einstein radius.

    Each image holds a round lens galaxy and an Einstein ring (a Gaussian annulus of radius theta_E,
    broken into arcs by a random azimuthal modulation). The ``'target'`` domain is
    blurred by a Gaussian PSF and noisier, a caricature of survey images against clean simulations.

    Parameters
    ----------
    n : int
        Number of images.
    domain : {'source', 'target'}
        Which domain to draw.
    image_size : int
        Side of the square images in pixels.
    random_state : int or None
        Seed.

    Returns
    -------
    sklearn.utils.Bunch
        ``images`` float32 (n, 1, image_size, image_size) and ``target`` float32 theta_E in arcsec
        (uniform in [0.5, 3.0] x image_size / 40).

    Examples
    --------
    >>> make_toy_lenses(4, random_state=0).images.shape
    (4, 1, 32, 32)
    """
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target'; got {domain!r}.")
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}.")
    rng = np.random.default_rng(random_state)
    scale = image_size / 40
    theta_e = rng.uniform(0.5 * scale, 3.0 * scale, n)
    yy, xx = np.mgrid[:image_size, :image_size] - (image_size - 1) / 2
    centre = rng.uniform(-1, 1, (n, 2))
    dx, dy = xx[None] - centre[:, 0, None, None], yy[None] - centre[:, 1, None, None]
    radius, angle = np.hypot(dx, dy), np.arctan2(dy, dx)
    ring_px = theta_e[:, None, None] / PIXEL_SCALE
    arcs = 1 + 0.8 * np.cos(angle - rng.uniform(0, 2 * np.pi, (n, 1, 1)))
    ring = rng.uniform(0.5, 1.5, (n, 1, 1)) * arcs * np.exp(-0.5 * ((radius - ring_px) / 0.8) ** 2)
    galaxy = rng.uniform(0.5, 2.0, (n, 1, 1)) * np.exp(-0.5 * (radius / 1.5) ** 2)
    images = ring + galaxy
    if domain == "target":
        images = gaussian_filter(images, sigma=(0, 1.2, 1.2))
        images += rng.normal(0, 0.15, images.shape)
    else:
        images += rng.normal(0, 0.005, images.shape)
    return Bunch(images=images[:, None].astype(np.float32), target=theta_e.astype(np.float32))
