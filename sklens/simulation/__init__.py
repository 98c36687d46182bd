"""Simulated lens datasets made with deeplenstronomy: presets, a cache and parallel generation.

Importing this package and listing its presets need only the core install; simulating needs the
``sim`` extra (``pip install "sklens[sim]"``): deeplenstronomy is imported by the first simulation,
pandas and pyyaml where they are used. See ``docs/simulation.md``.
"""

from sklens.simulation._api import (
    LENS_PARAMETERS,
    PopulationSimulator,
    load_paper_domains,
    simulate_lenses,
    uncached_lenses,
)
from sklens.simulation._config import preset_names, preset_path
from sklens.simulation._export import simulate_to_files

__all__ = [
    "LENS_PARAMETERS",
    "PopulationSimulator",
    "load_paper_domains",
    "preset_names",
    "preset_path",
    "simulate_lenses",
    "simulate_to_files",
    "uncached_lenses",
]
