"""Why is DANN unstable and biased on the quick preset? Variants measured over seeds.

Trains ``DANNRegressor`` variants on the quick preset's data, loaded exactly as ``sklens reproduce``
loads it (4,000 lenses per domain, per-domain pixel scaling, 15 epochs, batch 32), and records per
variant and seed: pooled R^2 on both test sets, the median signed fractional residual
(pred - true) / pred of the target per theta_E bin, the training time, the last epoch's domain loss,
how well a linear probe tells the domains apart from the learned features, and the target R^2 after
re-estimating the BatchNorm statistics on target images only (a post-hoc test of the BatchNorm
hypothesis, no retraining). Results go to one JSON file, rewritten atomically after each run; runs
found there are skipped, so an interrupted study resumes. Conclusions: ``studies/study_dann.md``.

    OMP_NUM_THREADS=1 PYTHONPATH=. nice python studies/study_dann.py \\
        --cache-dir /work/quick-cache --variants baseline lr3e-4 --seeds 0 1
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import GradientNormClipping
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn

from sklens import DANNRegressor
from sklens._atomic import atomic_write
from sklens.base import DomainAdaptiveRegressor
from sklens.experiments.report import binned_fractional_residual
from sklens.experiments.reproduce import resolve_config
from sklens.nn.losses import DomainAdversarialLoss
from sklens.nn.tap import tap_features

CONFIG = resolve_config("quick")
ROWS = CONFIG.rows()


class SplitBatchNormDANN(DANNRegressor):
    """DANN whose source and target batches pass through the network separately, so BatchNorm
    normalises each domain with its own batch statistics (AdaBN-style; evaluate with target stats)."""

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        Xt = self.target_sampler_.draw(len(Xi)).to(self.device)
        with tap_features(self.module_, self.feature_layer) as tapped:
            y_pred = self.infer(Xi, **fit_params)
            self.module_(Xt)
        terms = {
            "task_loss": self.get_loss(y_pred, yi, X=Xi, training=True),
            "adaptation_loss": self.adaptation_loss_(tapped[0], tapped[1]),
        }
        loss = terms["task_loss"] + self.lambda_da * terms["adaptation_loss"]
        loss.backward()
        for name, term in terms.items():
            self.history.record_batch(name, term.item())
        self.history.record_batch("lambda_da", float(self.lambda_da))
        return {"loss": loss, "y_pred": y_pred}


class DropoutDANN(DANNRegressor):
    """DANN whose domain classifier has dropout 0.5 after its hidden layer."""

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        hidden = self.domain_hidden
        classifier = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, 2)
        )
        return DomainAdversarialLoss(classifier)


def _dann(seed: int, lr: float = CONFIG.lr["dann"], cls=DANNRegressor, domain_lr_factor=None, **kwargs):
    """The quick preset's DANN with ``lr`` and the classifier's own rate ``domain_lr_factor * lr``."""
    if domain_lr_factor is not None:
        kwargs["optimizer__param_groups"] = [("domain_classifier.*", {"lr": domain_lr_factor * lr})]
    return cls(
        lr=lr,
        lambda_da=kwargs.pop("lambda_da", CONFIG.lambda_da["dann"]),
        max_epochs=CONFIG.epochs,
        batch_size=CONFIG.batch_size,
        random_state=seed,
        device="cpu",
        **kwargs,
    )


VARIANTS: dict[str, Callable[[int], DomainAdaptiveRegressor]] = {
    # References (not DANN): the quick preset's MMD and no adaptation, for the probe and BatchNorm figures.
    "mmd-reference": lambda seed: ROWS["mmd"].make_estimator(seed, device="cpu"),
    "none-reference": lambda seed: ROWS["none"].make_estimator(seed, device="cpu"),
    "baseline": lambda seed: ROWS["dann"].make_estimator(seed, device="cpu"),
    "lr3e-4": lambda seed: _dann(seed, lr=3e-4),
    "domain-lr10x": lambda seed: _dann(seed, domain_lr_factor=10.0),
    "lr3e-4-domain-lr10x": lambda seed: _dann(seed, lr=3e-4, domain_lr_factor=10.0),
    "lambda0.3": lambda seed: _dann(seed, lambda_da=0.3),
    "lr3e-4-lambda0.3": lambda seed: _dann(seed, lr=3e-4, lambda_da=0.3),
    "split-bn": lambda seed: _dann(seed, cls=SplitBatchNormDANN),
    "lr3e-4-split-bn": lambda seed: _dann(seed, lr=3e-4, cls=SplitBatchNormDANN),
    "clip1": lambda seed: _dann(seed, callbacks=[("clip", GradientNormClipping(1.0))]),
    "dropout": lambda seed: _dann(seed, cls=DropoutDANN),
    "lambda3": lambda seed: _dann(seed, lambda_da=3.0),
    "split-bn-lambda3": lambda seed: _dann(seed, cls=SplitBatchNormDANN, lambda_da=3.0),
    # Control: per-domain BatchNorm passes without the adversarial gradient (AdaBN alone).
    "split-bn-lambda0": lambda seed: _dann(seed, cls=SplitBatchNormDANN, lambda_da=0.0),
    "lr3e-4-split-bn-lambda0": lambda seed: _dann(seed, lr=3e-4, cls=SplitBatchNormDANN, lambda_da=0.0),
}


def signed_median_residual(y_true: np.ndarray, y_pred: np.ndarray) -> list[float | None]:
    """Median of (pred - true) / pred in each theta_E bin of the reproduction's report."""
    return [b["median_fractional_residual"] for b in binned_fractional_residual(y_true, y_pred)]


def target_batchnorm(model: DomainAdaptiveRegressor, X_tgt: np.ndarray, batch_size: int = 64):
    """A copy of ``model`` whose BatchNorm running statistics are re-estimated on target images only."""
    model = copy.deepcopy(model)
    norms = [m for m in model.module_.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches below
    model.module_.train()
    order = np.random.default_rng(0).permutation(len(X_tgt))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            model.module_(torch.as_tensor(X_tgt[order[start : start + batch_size]]))
    model.module_.eval()
    return model


def domain_probe_accuracy(model: DomainAdaptiveRegressor, X_src: np.ndarray, X_tgt: np.ndarray) -> float:
    """2-fold accuracy of a logistic regression telling source from target features (0.5: aligned)."""
    features = np.concatenate([model.transform_features(X_src), model.transform_features(X_tgt)])
    domains = np.r_[np.zeros(len(X_src)), np.ones(len(X_tgt))]
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    return float(cross_val_score(probe, features, domains, cv=2).mean())


def run(variant: str, seed: int, data) -> dict:
    model = VARIANTS[variant](seed)
    start = time.perf_counter()
    (X_src, y_src), (X_tgt, _) = data.train["source"], data.train["target"]
    model.fit(X_src, y_src, X_tgt=X_tgt)
    seconds = time.perf_counter() - start
    (X_s, y_s), (X_t, y_t) = data.test["source"], data.test["target"]
    pred_s, pred_t = model.predict(X_s), model.predict(X_t)
    pred_t_bn = target_batchnorm(model, X_tgt).predict(X_t)
    return {
        "train_seconds": seconds,
        "r2_source": float(r2_score(y_s, pred_s)),
        "r2_target": float(r2_score(y_t, pred_t)),
        "r2_target_target_bn": float(r2_score(y_t, pred_t_bn)),
        "median_residual_target": signed_median_residual(y_t, pred_t),
        "median_residual_target_target_bn": signed_median_residual(y_t, pred_t_bn),
        "median_residual_source": signed_median_residual(y_s, pred_s),
        "domain_probe_accuracy": domain_probe_accuracy(model, X_s, X_t),
        "last_epoch": {
            k: model.history[-1, k] for k in ("task_loss", "adaptation_loss") if k in model.history[-1]
        },
        "first_epoch_adaptation_loss": model.history[0].get("adaptation_loss"),
    }


def summary_line(variant: str, runs: dict) -> str:
    def mean_std(key: str) -> str:
        values = [r[key] for r in runs.values()]
        return f"{np.mean(values):.3f} +- {np.std(values):.3f}"

    residual = np.array([r["median_residual_target"] for r in runs.values()], dtype=float).mean(axis=0)
    seconds = np.mean([r["train_seconds"] for r in runs.values()])
    return (
        f"{variant:22s} seeds {sorted(int(s) for s in runs)}  target R2 {mean_std('r2_target')}  "
        f"(target BN {mean_std('r2_target_target_bn')})  source R2 {mean_std('r2_source')}  "
        f"probe {mean_std('domain_probe_accuracy')}  "
        f"median residual by bin {np.round(residual, 3).tolist()}  "
        f"{seconds:.0f} s"
    )


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["baseline"], choices=sorted(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--cache-dir", default="sklens-out/cache")
    parser.add_argument("--out", default=str(Path(__file__).with_name("study_dann.json")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    results = _load(out)
    data = CONFIG.load_data(cache_dir=args.cache_dir, progress=False)
    for variant in args.variants:
        for seed in args.seeds:
            if str(seed) in results.get(variant, {}):
                continue
            result = run(variant, seed, data)
            results = _load(out)  # another process of the study may have added runs meanwhile
            results.setdefault(variant, {})[str(seed)] = result
            with atomic_write(out) as temporary:
                temporary.write_text(json.dumps(results, indent=1))
            print(f"{variant} seed {seed}: {json.dumps(results[variant][str(seed)])}", flush=True)
    for variant, runs in results.items():
        print(summary_line(variant, runs))


if __name__ == "__main__":
    main()
