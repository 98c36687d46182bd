"""Small built-in toy lens sets: seconds to make, for tests, examples and quick starts.

[`make_toy_lenses`][sklens.datasets.make_toy_lenses] makes Einstein-radius regression sets with a source and a
target domain; [`make_toy_lens_finding`][sklens.datasets.make_toy_lens_finding] makes lens / non-lens cutouts
for the classifiers. Neither is a substitute for ray tracing: they only have to look enough like the real
tasks that a network must learn rings and arcs.

For the paper's simulated domains use [`sklens.simulation`][sklens.simulation] (deeplenstronomy).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.utils import Bunch, check_random_state

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


# Relative brightness per band (g, r, i): the deflector is red, lensed sources are blue.
_RED = np.array([0.5, 0.8, 1.0], dtype=np.float32)
_BLUE = np.array([1.0, 0.8, 0.6], dtype=np.float32)


def _grid(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    centre = (image_size - 1) / 2
    yy, xx = np.mgrid[:image_size, :image_size].astype(np.float32)
    return xx - centre, yy - centre


def _colour(n_bands: int, colour: np.ndarray) -> np.ndarray:
    return np.interp(np.linspace(0, 2, n_bands), [0, 1, 2], colour).astype(np.float32)


def _galaxy(xx, yy, rng, scale: float) -> np.ndarray:
    """Elliptical Sersic-like profile, peak 1, random centre offset, axis ratio, angle and index."""
    x0, y0 = rng.normal(0, 0.04 * scale, 2)
    angle = rng.uniform(0, np.pi)
    q = rng.uniform(0.5, 1.0)
    x = (xx - x0) * np.cos(angle) + (yy - y0) * np.sin(angle)
    y = -(xx - x0) * np.sin(angle) + (yy - y0) * np.cos(angle)
    r = np.sqrt(q * x**2 + y**2 / q)
    r_eff = rng.uniform(0.06, 0.12) * scale
    n = rng.uniform(1.0, 4.0)
    b = 2 * n - 1 / 3
    return np.exp(-b * ((r / r_eff + 1e-3) ** (1 / n) - 1)) / np.exp(b)


def _arc(xx, yy, rng, scale: float) -> np.ndarray:
    """A lensed arc (or ring) of radius ~Einstein radius, with a faint counter-image."""
    radius = rng.uniform(0.12, 0.3) * scale
    width = rng.uniform(0.015, 0.03) * scale
    centre_angle = rng.uniform(-np.pi, np.pi)
    half_length = rng.uniform(0.4, np.pi)
    r = np.hypot(xx, yy)
    delta = np.angle(np.exp(1j * (np.arctan2(yy, xx) - centre_angle)))
    arc = np.exp(-0.5 * ((r - radius) / width) ** 2) * np.exp(-0.5 * (delta / half_length) ** 2)
    cx, cy = -0.8 * radius * np.cos(centre_angle), -0.8 * radius * np.sin(centre_angle)
    counter = 0.5 * np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / width**2)
    return arc + counter


def _companion(xx, yy, rng, scale: float) -> np.ndarray:
    """A small round neighbour somewhere in the cutout (in lenses and non-lenses alike)."""
    x0, y0 = rng.uniform(-0.4, 0.4, 2) * scale
    sigma = rng.uniform(0.015, 0.04) * scale
    return rng.uniform(0.1, 0.6) * np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / sigma**2)


def make_toy_lens_finding(
    n_samples: int = 1000,
    image_size: int = 60,
    n_bands: int = 3,
    noise: float = 0.04,
    random_state=None,
) -> Bunch:
    """Toy lens-finding cutouts: an elliptical galaxy, plus a blue arc and counter-image for lenses.

    Every cutout has a red elliptical galaxy near the centre (Sersic-like profile, random index,
    size, axis ratio and angle), zero to two round companions of either colour, and Gaussian noise.
    Lenses (``target == 1``, half of the set) also have a blue arc of random radius, width, length
    (up to a full ring) and brightness (0.1 to 0.5 of the galaxy's peak) with a counter-image on the
    opposite side.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of cutouts.
    image_size : int, default=60
        Side in pixels.
    n_bands : int, default=3
        Number of bands.
    noise : float, default=0.04
        Standard deviation of the Gaussian pixel noise (the galaxy's peak is about 1).
    random_state : int, RandomState or None
        Seed.

    Returns
    -------
    Bunch
        ``images`` float32 (n_samples, n_bands, image_size, image_size) and ``target`` int64 0/1.

    Examples
    --------
    >>> data = make_toy_lens_finding(10, image_size=20, random_state=0)
    >>> data.images.shape, data.target.tolist()
    ((10, 3, 20, 20), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    """
    rng = check_random_state(random_state)
    xx, yy = _grid(image_size)
    red, blue = _colour(n_bands, _RED), _colour(n_bands, _BLUE)
    target = np.arange(n_samples) % 2
    images = np.empty((n_samples, n_bands, image_size, image_size), dtype=np.float32)
    for i, is_lens in enumerate(target):
        image = red[:, None, None] * _galaxy(xx, yy, rng, image_size)
        for _ in range(rng.randint(0, 3)):
            colour = red if rng.rand() < 0.5 else blue
            image += colour[:, None, None] * _companion(xx, yy, rng, image_size)
        if is_lens:
            brightness = rng.uniform(0.1, 0.5)
            image += brightness * blue[:, None, None] * _arc(xx, yy, rng, image_size)
        images[i] = image + rng.normal(0, noise, image.shape)
    return Bunch(images=images, target=target.astype(np.int64))
