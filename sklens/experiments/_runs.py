"""What a stored training run of an experiment was trained with, and reading it back.

Experiments (``reproduce``, ``uncertainty``) store each finished run in its own folder, named by method
and seed, and a rerun resumes by reusing them. A run keeps the settings it was trained with in its
``result.json``, so that a rerun with other settings into the same folder is refused instead of mixing
another configuration's runs into its table.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from sklens._atomic import atomic_write

# Estimator parameters that a run's folder and result record themselves, or that do not change what
# is learnt.
_NOT_SETTINGS = frozenset({"random_state", "device", "n_members", "verbose"})


def simulation_cache_dir(out: str | os.PathLike, cache_dir: str | os.PathLike | None) -> Path:
    """Where an experiment writing to ``out`` keeps its simulated lenses: ``cache_dir``, or
    ``out/cache`` by default."""
    return Path(cache_dir) if cache_dir else Path(out) / "cache"


def network_options(feature_norm: bool) -> dict:
    """Estimator parameters for the experiments' network options: none where every option is off,
    so that runs stored before an option existed keep their settings."""
    return {"module__feature_norm": True} if feature_norm else {}


def run_settings(estimator, **data) -> dict:
    """The data's settings (``data``, JSON values) and the estimator's plain-valued parameters but
    its seed, device and member count, as JSON would give them back."""
    params = {
        name: value
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in _NOT_SETTINGS and isinstance(value, str | int | float | bool | None)
    }
    return json.loads(json.dumps({**data, "estimator": type(estimator).__name__, **params}))


def read_finished_run(run_dir: Path, settings: dict) -> dict | None:
    """The stored result of the run in ``run_dir``, or None where it has not finished.

    ``result.json`` is written last, atomically: it marks a finished run. A run trained with other
    ``settings`` raises a ValueError that names what differs; one stored by an sklens that recorded
    no settings is reused with a warning.
    """
    marker = run_dir / "result.json"
    if not marker.exists():
        return None
    result = json.loads(marker.read_text())
    stored = result.get("settings")
    if stored is None:
        warnings.warn(  # one text for every such run, so that it is shown once
            "finished runs stored by an older sklens record no training settings; they are reused as "
            "this configuration's runs: check that they were trained with the same settings.",
            UserWarning,
            stacklevel=2,
        )
    elif stored != settings:
        changed = sorted(k for k in stored.keys() | settings.keys() if stored.get(k) != settings.get(k))
        differences = "; ".join(f"{k}: {stored.get(k)!r} there, {settings.get(k)!r} now" for k in changed)
        raise ValueError(
            f"the finished run in {str(run_dir)!r} was trained with other settings ({differences}). "
            "Give another output directory, or delete that folder to train the run again."
        )
    return result


def write_finished_run(run_dir: Path, result: dict) -> dict:
    """Write ``result.json``, atomically and after everything else of the run: it marks the run
    finished. Returns ``result`` as `read_finished_run` will read it back (through JSON)."""
    text = json.dumps(result, indent=1)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "result.json") as temporary:
        temporary.write_text(text)
    return json.loads(text)


def use_domain_statistics(model, domain: str):
    """``model``, set to predict with ``domain``'s BatchNorm statistics where it keeps each domain's
    apart (``domain_batchnorm``); each test set of an experiment is predicted with its own."""
    if model.domain_batchnorm:
        model.set_params(predict_domain=domain)
    return model
