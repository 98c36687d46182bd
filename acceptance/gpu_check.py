"""The acceptance checks on a GPU, as one prepared script for a machine with CUDA.

For every estimator (the six regressors, with the point, gaussian and flow heads, domain BatchNorm and a
two-member ensemble; both lens classifiers) and for ``device='cuda'`` and ``device='auto'``: fit on small
toy data, predict, score, pickle and ``save_params``; then a separate process with no visible GPU
(``CUDA_VISIBLE_DEVICES=''``) unpickles every model and predicts, and its predictions are compared with
the GPU's. Optionally (``--reproduce``) it times ``sklens reproduce --preset quick`` on the device.
Results go to ``OUT/gpu_check.json``; a failed check is recorded with its error, and the script exits 1
if any failed. The test suite runs it with ``--device cpu`` (the same code path but the device).

    python acceptance/gpu_check.py --device cuda --out "$OUT" --reproduce   # on the GPU machine, < 10 min
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
import traceback
from functools import partial
from pathlib import Path

import numpy as np

from sklens import (
    CNNRegressor,
    CORALRegressor,
    DANNRegressor,
    DAREGRAMRegressor,
    LensClassifier,
    MMDRegressor,
    RotInvariantLensClassifier,
    RSDRegressor,
)
from sklens.datasets import make_toy_lens_finding, make_toy_lenses

FAST = dict(max_epochs=2, batch_size=16, random_state=0)
REGRESSORS = {
    "CNN": CNNRegressor,
    "DANN": DANNRegressor,
    "MMD": MMDRegressor,
    "CORAL": CORALRegressor,
    "RSD": RSDRegressor,
    "DARE-GRAM": DAREGRAMRegressor,
    "MMD-gaussian": partial(MMDRegressor, head="gaussian"),
    "DANN-flow": partial(DANNRegressor, head="flow"),
    "DANN-domain-batchnorm": partial(DANNRegressor, domain_batchnorm=True),
    "MMD-ensemble": partial(MMDRegressor, n_members=2),
}
CLASSIFIERS = {"LensClassifier": LensClassifier, "RotInvariantLensClassifier": RotInvariantLensClassifier}
# Reloaded on the CPU, a model predicts what it did on the GPU up to float32 rounding of other kernels.
TOLERANCE = 1e-3


def check_estimator(name: str, make, data: tuple, device: str, models_dir: Path) -> dict:
    """Fit, predict, score, pickle and save one estimator on ``device``; the row of the report."""
    X, y, X_tgt = data
    start = time.perf_counter()
    try:
        model = make(device=device, **FAST)
        model.fit(X, y, X_tgt=X_tgt) if X_tgt is not None else model.fit(X, y)
        predictions = np.asarray(model.predict(X))
        score = float(model.score(X, y))
        module_device = str(next(model.module_.parameters()).device)
        path = models_dir / f"{name}-{device}.pkl"
        path.write_bytes(pickle.dumps(model))
        model.save_params(f_params=models_dir / f"{name}-{device}.pt")
        np.save(models_dir / f"{name}-{device}.npy", predictions)
    except Exception:  # noqa: BLE001 - every failure is a result of the check, recorded with its trace
        return {"name": name, "device": device, "ok": False, "error": traceback.format_exc()}
    return {
        "name": name,
        "device": device,
        "ok": bool(np.isfinite(predictions).all() and np.isfinite(score)),
        "module_device": module_device,
        "score": score,
        "seconds": time.perf_counter() - start,
    }


RELOAD_ON_CPU = """
import json, pickle, sys
from pathlib import Path
import numpy as np
import torch

assert not torch.cuda.is_available(), "the reloading process must see no GPU"
models_dir = Path(sys.argv[1])
differences = {}
for path in sorted(models_dir.glob("*.pkl")):
    X = np.load(models_dir / ("X-classifier.npy" if "Classifier" in path.stem else "X-regressor.npy"))
    got = np.asarray(pickle.loads(path.read_bytes()).predict(X))
    differences[path.stem] = float(np.max(np.abs(got - np.load(path.with_suffix(".npy")))))
print(json.dumps(differences))
"""


def reload_on_cpu(models_dir: Path, X: dict[str, np.ndarray]) -> dict:
    """Unpickle every model in a process that sees no GPU and compare its predictions with the fit's."""
    for kind, images in X.items():
        np.save(models_dir / f"X-{kind}.npy", images)
    completed = subprocess.run(
        [sys.executable, "-c", RELOAD_ON_CPU, str(models_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        check=False,
    )
    if completed.returncode != 0:
        return {"ok": False, "error": completed.stderr[-4000:]}
    differences = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"ok": all(d <= TOLERANCE for d in differences.values()), "max_abs_difference": differences}


def time_reproduce(device: str, out: Path) -> dict:
    """``sklens reproduce --preset quick`` on ``device``, timed."""
    start = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sklens.cli",
            "reproduce",
            "--device",
            device,
            "--out",
            str(out / "reproduce"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "ok": completed.returncode == 0,
        "seconds": time.perf_counter() - start,
        "table": completed.stdout[-3000:],
        "error": completed.stderr[-3000:] if completed.returncode else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the device to check (cuda; cpu for the test)")
    parser.add_argument("--out", required=True, help="folder of the report and the models")
    parser.add_argument("--reproduce", action="store_true", help="also time sklens reproduce --preset quick")
    args = parser.parse_args(argv)
    out = Path(args.out)
    models_dir = out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    lenses = make_toy_lenses(64, random_state=0)
    X_tgt = make_toy_lenses(64, domain="target", random_state=1).images
    # 32 images of 16 x 16: the lens finders' networks are the largest here (most of the check's time
    # on a CPU; 32 x 32 took three times as long).
    finding = make_toy_lens_finding(32, image_size=16, random_state=0)
    devices = [args.device] + (["auto"] if args.device != "cpu" else [])
    rows = []
    for device in devices:
        for name, make in REGRESSORS.items():
            rows.append(
                check_estimator(name, make, (lenses.images, lenses.target, X_tgt), device, models_dir)
            )
        for name, make in CLASSIFIERS.items():
            rows.append(
                check_estimator(name, make, (finding.images, finding.target, None), device, models_dir)
            )
    report = {
        "device": args.device,
        "estimators": rows,
        "reload_on_cpu": reload_on_cpu(
            models_dir, {"classifier": finding.images, "regressor": lenses.images}
        ),
    }
    if args.reproduce:
        report["reproduce_quick"] = time_reproduce(args.device, out)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    failed = [row["name"] + "@" + row["device"] for row in rows if not row["ok"]]
    failed += [
        part for part in ("reload_on_cpu", "reproduce_quick") if not report.get(part, {"ok": True})["ok"]
    ]
    print(json.dumps({"failed": failed, "n_checks": len(rows)}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
