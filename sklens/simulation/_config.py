"""Presets and configuration files: find them, read them, and split off sklens' own section.

A configuration is a deeplenstronomy YAML file with one optional extra top-level section that sklens
reads and removes before deeplenstronomy sees the file::

    SKLENS:
        TARGET: PLANE_1-OBJECT_1-MASS_PROFILE_1-theta_E-g  # the column returned as `target`
        CLASSES: {NON_LENS: 0, LENS: 1}  # optional: maps TARGET values to classes
        IMAGES: observed  # or `noiseless`: the sum of the noise-free planes
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

DEFAULT_TARGET = "PLANE_1-OBJECT_1-MASS_PROFILE_1-theta_E-{band}"
IMAGE_MODES = ("observed", "noiseless")
REQUIRED_SECTIONS = ("DATASET", "IMAGE", "SURVEY", "SPECIES", "GEOMETRY")


@dataclass(frozen=True)
class SimulationConfig:
    """A parsed configuration: deeplenstronomy's part and sklens' instructions."""

    text: str
    source: str
    deeplenstronomy: dict
    target_column: str
    target_explicit: bool
    classes: dict = field(default_factory=dict)
    noiseless: bool = False


def preset_names() -> list[str]:
    """Names of the presets shipped with sklens."""
    presets = resources.files("sklens.simulation") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in presets.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    """The path of the YAML file of preset ``name``, e.g. to copy and edit it.

    Parameters
    ----------
    name : str
        One of [`preset_names`][sklens.simulation.preset_names].

    Returns
    -------
    pathlib.Path
        The file inside the installed package.

    Examples
    --------
    >>> from sklens.simulation import preset_path
    >>> preset_path("paper-source").name
    'paper-source.yaml'
    """
    if name not in preset_names():
        raise ValueError(f"Unknown preset {name!r}; known presets: {', '.join(preset_names())}.")
    return Path(str(resources.files("sklens.simulation") / "presets" / f"{name}.yaml"))


def _read_text(config: str | os.PathLike) -> tuple[str, str]:
    """Return (YAML text, description of where it came from) for a preset name or a file path."""
    if isinstance(config, str) and config in preset_names():
        return preset_path(config).read_text(), f"preset {config!r}"
    path = Path(config)
    if path.is_file():
        return path.read_text(), f"file {str(path)!r}"
    raise ValueError(
        f"config {str(config)!r} is neither a known preset nor an existing YAML file; "
        f"known presets: {', '.join(preset_names())}."
    )


def load_config(config: str | os.PathLike) -> SimulationConfig:
    """Read a preset or YAML file and check the parts sklens relies on.

    Raises
    ------
    ValueError
        Unknown preset, missing file, invalid YAML, a missing section or a bad SKLENS section;
        the message names the file.
    """
    import yaml

    text, source = _read_text(config)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"The {source} is not valid YAML: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"The {source} must hold a YAML mapping of deeplenstronomy sections.")
    missing = [s for s in REQUIRED_SECTIONS if s not in parsed]
    if missing:
        raise ValueError(f"The {source} lacks the deeplenstronomy section(s) {', '.join(missing)}.")
    options = parsed.pop("SKLENS", None) or {}
    return _with_options(text, source, parsed, options)


def _with_options(text: str, source: str, parsed: dict, options: dict) -> SimulationConfig:
    """Check the SKLENS section and build the SimulationConfig."""
    unknown = set(options) - {"TARGET", "CLASSES", "IMAGES"}
    if unknown:
        raise ValueError(f"The SKLENS section of the {source} has unknown keys {sorted(unknown)}.")
    mode = options.get("IMAGES", "observed")
    if mode not in IMAGE_MODES:
        raise ValueError(f"SKLENS.IMAGES in the {source} must be one of {IMAGE_MODES}; got {mode!r}.")
    try:
        first_band = str(parsed["SURVEY"]["PARAMETERS"]["BANDS"]).split(",")[0].strip()
        geometry = parsed["GEOMETRY"]
        [float(conf["FRACTION"]) for conf in geometry.values()]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"The {source} needs SURVEY.PARAMETERS.BANDS and a FRACTION in every GEOMETRY "
            f"configuration ({type(exc).__name__}: {exc})."
        ) from exc
    return SimulationConfig(
        text=text,
        source=source,
        deeplenstronomy=parsed,
        target_column=options.get("TARGET", DEFAULT_TARGET.format(band=first_band)),
        target_explicit="TARGET" in options,
        classes=dict(options.get("CLASSES") or {}),
        noiseless=mode == "noiseless",
    )
