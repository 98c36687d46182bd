"""Simulated lens datasets made with deeplenstronomy: presets, a cache and parallel generation.

Importing this package does not import deeplenstronomy; the first simulation does (install it with
``pip install "sklens[sim]"``). See ``docs/simulation.md``.
"""

from sklens.simulation._api import load_paper_domains, simulate_lenses
from sklens.simulation._config import preset_names, preset_path
from sklens.simulation._export import simulate_to_files

__all__ = [
    "load_paper_domains",
    "preset_names",
    "preset_path",
    "simulate_lenses",
    "simulate_to_files",
]
