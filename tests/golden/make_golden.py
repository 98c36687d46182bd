"""Write ``regressors.npz``: the outputs that refactoring the regressors must leave unchanged.

Made once, on the code before the estimator was reshaped (sklens main at 52a9607, December 2026,
torch 2.13.0 CPU build), with::

    python tests/golden/make_golden.py

The script pins what decides the CPU's rounding before it imports torch: one thread, and AVX2 as the
widest instruction set of ATen, oneDNN and MKL (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``,
``MKL_CBWR``), so that another x86 machine with AVX2 (CI's) computes the same bits as the one that
wrote the file. ``--out PATH`` writes elsewhere: ``tests/test_golden.py`` runs it so and compares.

Every regressor with every head, as one model and as a 3-member ensemble, with domain BatchNorm off
and on, is fitted for 2 epochs on tiny seeded data; the file keeps, per case, ``predict``,
``predict(return_std=True)``'s spread, ``predict_members``, the first 16 columns of
``transform_features`` and, for the heads with a distribution, ``sample_posterior`` and
``log_likelihood``. Every parameter whose default may
change is given explicitly, so that the file measures the code and not the defaults; a parameter added
after the file was written is set to what reproduces the old behaviour.
``tests/test_golden.py`` refits each case and compares.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np

#: The environment that fixes the CPU's arithmetic (set before torch is imported).
PINNED = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
}

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "regressors.npz"

REGRESSORS = ("none", "dann", "mmd", "coral", "rsd", "daregram")
HEADS = ("point", "gaussian", "flow")
MEMBERS = (1, 3)
DOMAIN_BATCHNORM = (False, True)
#: The adaptation weight: 1, but RSD's 0.1 (at 1, its SVDs meet repeated singular values here).
LAMBDA = {"rsd": 0.1}
#: Settings given explicitly (the defaults of December 2026's main).
SETTINGS = dict(
    lr=1e-3,
    max_epochs=2,
    batch_size=16,
    target_scaling="auto",
    beta=0.5,
    flow_context=8,
    flow_transforms=1,
    flow_hidden=16,
    predict_domain="target",
    device="cpu",
    random_state=3,
    module__feature_norm=False,
    calibration_fraction=0.0,  # added in 1.0 (after the file was written): 0 is the old behaviour
    lr_schedule="constant",  # added in 1.0 too: MMD's image default became a cosine
    module__channels_last=False,  # added in 1.0 too: the default layout's rounding
)


def golden_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """33 labelled source rows (a last batch of one row), 40 target rows, 1 x 16 x 16, two targets."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(33, 1, 16, 16)).astype(np.float32)
    X_tgt = (1.5 * rng.normal(size=(40, 1, 16, 16)) + 0.3).astype(np.float32)
    y = np.stack([X.mean(axis=(1, 2, 3)), X[:, 0, 4:12, 4:12].std(axis=(1, 2))], axis=1)
    return X, y.astype(np.float32), X_tgt


def cases():
    """Every (method, head, n_members, domain_batchnorm) combination, and its key in the file."""
    for method, head, members, dbn in itertools.product(REGRESSORS, HEADS, MEMBERS, DOMAIN_BATCHNORM):
        yield f"{method}-{head}-k{members}-dbn{int(dbn)}", method, head, members, dbn


def make_model(method: str, head: str, members: int, dbn: bool):
    from sklens import (
        CNNRegressor,
        CORALRegressor,
        DANNRegressor,
        DAREGRAMRegressor,
        MMDRegressor,
        RSDRegressor,
    )

    classes = {
        "none": CNNRegressor,
        "dann": DANNRegressor,
        "mmd": MMDRegressor,
        "coral": CORALRegressor,
        "rsd": RSDRegressor,
        "daregram": DAREGRAMRegressor,
    }
    return classes[method](
        head=head, n_members=members, domain_batchnorm=dbn, lambda_da=LAMBDA.get(method, 1.0), **SETTINGS
    )


def outputs(model, head: str, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """What the file keeps of one fitted model, on ``X`` (labels ``y`` for the log-likelihood)."""
    mean, std = model.predict(X, return_std=True)
    result = {
        "predict": model.predict(X),
        "mean": mean,
        "std": std,
        "members": model.predict_members(X),
        "features": model.transform_features(X)[..., :16],
    }
    if head != "point":
        result["samples"] = model.sample_posterior(X, 5, random_state=0)
        result["log_likelihood"] = model.log_likelihood(X, y)
    return result


def fit_case(method: str, head: str, members: int, dbn: bool) -> dict[str, np.ndarray]:
    import warnings

    X, y, X_tgt = golden_data()
    model = make_model(method, head, members, dbn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, X_tgt=X_tgt)
    probe = np.concatenate([X[:4], X_tgt[:4]])
    probe_y = np.concatenate([y[:4], y[:4]])
    return outputs(model, head, probe, probe_y)


def compute() -> dict[str, np.ndarray]:
    """Every case's outputs, keyed ``CASE/OUTPUT``."""
    import torch

    torch.set_num_threads(1)
    arrays = {}
    for key, method, head, members, dbn in cases():
        for name, value in fit_case(method, head, members, dbn).items():
            arrays[f"{key}/{name}"] = np.asarray(value)
    return arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN, help="where to write (default: the golden file)")
    args = parser.parse_args(argv)
    missing = {name: value for name, value in PINNED.items() if os.environ.get(name) != value}
    if missing:  # torch reads them when it is loaded: start again with them set
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], {**os.environ, **PINNED})
    arrays = compute()
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({len(arrays)} arrays)")


if __name__ == "__main__":
    main()
