"""Study: do the label-free scorers of ``sklens.model_selection`` pick good domain-adaptive models?

A grid over ``lambda_da`` x ``lr`` for DANN and MMD is trained on labelled source and unlabelled
target rows. Each candidate is scored by every scorer on a held-out packed validation set (source
rows with labels, target rows with NaN: what one GridSearchCV split gives a scorer), and by the oracle:
pooled R^2 on a labelled target test set that no scorer sees. Reported per scorer: the Spearman
correlation between its scores and the oracle across the grid, and the oracle R^2 of the candidate
it selects against the grid's best.

Data: ``--data paper`` (the default) draws the simulated paper domains with
``sklens.simulation.simulate_lenses('paper-source'|'paper-target', ...)`` (deeplenstronomy, 40x40,
cached under ``--cache-dir``); ``--data toy`` uses ``sklens.datasets.make_toy_lenses`` (24x24). Each
domain is divided by its own training-split pixel standard deviation (a statistic of unlabelled
images; see docs/studies/scaling.md on why this matters for the paper domains).

Run from the repository root::

    PYTHONPATH=. python studies/study_model_selection.py               # paper domains, ~30 min
    PYTHONPATH=. python studies/study_model_selection.py --data toy    # toy domains, ~20 min
    PYTHONPATH=. python studies/study_model_selection.py --fast --data toy   # a smoke test, ~1 min
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from sklens import DANNRegressor, MMDRegressor
from sklens.datasets import make_toy_lenses
from sklens.model_selection import (
    DegenerateWeightsWarning,
    DEVScorer,
    IWVScorer,
    ReverseValidationScorer,
    SourceR2Scorer,
)

SCORERS = {
    "SourceR2": SourceR2Scorer(),
    "IWV": IWVScorer(),
    "IWV-unnorm": IWVScorer(self_normalize=False),
    "DEV": DEVScorer(),
    "Reverse": ReverseValidationScorer(),
}
METHODS = {"DANN": DANNRegressor, "MMD": MMDRegressor}


@dataclass
class Config:
    """Sizes of one study run."""

    n_train: int
    n_val: int
    n_test: int
    image_size: int
    max_epochs: int
    lambdas: tuple[float, ...]
    lrs: tuple[float, ...]


CONFIGS = {
    ("paper", False): Config(800, 300, 600, 40, 6, (0.1, 1.0, 10.0), (3e-4, 1e-3, 3e-3)),
    ("toy", False): Config(1000, 400, 800, 24, 8, (0.1, 1.0, 10.0), (3e-4, 1e-3, 3e-3)),
    ("paper", True): Config(120, 60, 60, 40, 2, (0.1, 1.0), (1e-3,)),
    ("toy", True): Config(120, 60, 60, 16, 2, (0.1, 1.0), (1e-3,)),
}


def _draw(data: str, domain: str, n: int, cfg: Config, seed: int, cache_dir: str | None):
    """Draw ``n`` labelled lenses of one domain: images, labels and a description."""
    if data == "toy":
        toy = make_toy_lenses(n, domain=domain, image_size=cfg.image_size, random_state=seed)
        return toy.images, toy.target, f"make_toy_lenses (toy, {cfg.image_size}x{cfg.image_size})"
    from sklens.simulation import simulate_lenses

    sim = simulate_lenses(f"paper-{domain}", n, random_state=seed, cache_dir=cache_dir, progress=False)
    return sim.images, sim.target, "sklens.simulation paper-source / paper-target (deeplenstronomy, 40x40)"


def load_domains(data: str, cfg: Config, seed: int, cache_dir: str | None) -> dict[str, np.ndarray | str]:
    """Return scaled train / validation / test splits of both domains and a description of the data."""
    n = cfg.n_train + cfg.n_val + cfg.n_test
    X_s, y_s, name = _draw(data, "source", n, cfg, seed, cache_dir)
    X_t, y_t, _ = _draw(data, "target", n, cfg, seed + 1, cache_dir)
    X_s = X_s / X_s[: cfg.n_train].std()
    X_t = X_t / X_t[: cfg.n_train].std()
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    return {
        "data": name,
        "X_train": np.concatenate([X_s[:a], X_t[:a]]).astype(np.float32),
        "y_train": np.concatenate([y_s[:a], np.full(a, np.nan)]),
        "X_val": np.concatenate([X_s[a:b], X_t[a:b]]).astype(np.float32),
        "y_val": np.concatenate([y_s[a:b], np.full(b - a, np.nan)]),
        "X_test_tgt": X_t[b:].astype(np.float32),
        "y_test_tgt": y_t[b:],
    }


def evaluate_grid(cfg: Config, splits: dict, seed: int) -> list[dict]:
    """Train every candidate; score it with each scorer and with the oracle."""
    rows = []
    grid = list(itertools.product(METHODS, cfg.lambdas, cfg.lrs))
    for i, (method, lam, lr) in enumerate(grid, 1):
        start = time.perf_counter()
        model = METHODS[method](
            lambda_da=lam, lr=lr, max_epochs=cfg.max_epochs, batch_size=32, random_state=seed, device="cpu"
        )
        model.fit(splits["X_train"], splits["y_train"])
        row = {"method": method, "lambda_da": lam, "lr": lr}
        row["oracle"] = r2_score(splits["y_test_tgt"], model.predict(splits["X_test_tgt"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateWeightsWarning)
            for name, scorer in SCORERS.items():
                row[name] = scorer(model, splits["X_val"], splits["y_val"])
        row["degenerate"] = any(issubclass(w.category, DegenerateWeightsWarning) for w in caught)
        rows.append(row)
        print(
            f"[{i}/{len(grid)}] {method} lambda_da={lam:g} lr={lr:g}: oracle target R^2 {row['oracle']:.3f}, "
            + ", ".join(f"{name} {row[name]:.4g}" for name in SCORERS)
            + (" (degenerate weights)" if row["degenerate"] else "")
            + f" [{time.perf_counter() - start:.0f} s]",
            flush=True,
        )
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per grid (DANN, MMD, both) and scorer: Spearman with the oracle, selected vs best oracle R^2."""
    summary = []
    for grid_name in [*METHODS, "DANN+MMD"]:
        subset = [r for r in rows if grid_name == "DANN+MMD" or r["method"] == grid_name]
        oracle = np.array([r["oracle"] for r in subset])
        for name in SCORERS:
            scores = np.array([r[name] for r in subset])
            rho = spearmanr(scores, oracle).statistic if len(subset) > 2 else float("nan")
            chosen = subset[int(np.argmax(scores))]
            summary.append(
                {
                    "grid": grid_name,
                    "scorer": name,
                    "spearman": float(rho),
                    "selected": chosen["oracle"],
                    "best": float(oracle.max()),
                    "gap": float(oracle.max() - chosen["oracle"]),
                    "choice": f"{chosen['method']} lambda_da={chosen['lambda_da']:g} lr={chosen['lr']:g}",
                }
            )
    return summary


def markdown_tables(rows: list[dict], summary: list[dict]) -> str:
    """The summary and the per-candidate tables in Markdown."""
    lines = [
        "| grid | scorer | Spearman vs oracle | selected: oracle target R^2 | grid best | gap | selected |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['grid']} | {s['scorer']} | {s['spearman']:.2f} | {s['selected']:.3f} | {s['best']:.3f} "
            f"| {s['gap']:.3f} | {s['choice']} |"
        )
    lines += [
        "",
        "| method | lambda_da | lr | oracle target R^2 | " + " | ".join(SCORERS) + " | degenerate weights |",
        "|---|---|---|---|" + "---|" * len(SCORERS) + "---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['lambda_da']:g} | {r['lr']:g} | {r['oracle']:.3f} | "
            + " | ".join(f"{r[name]:.4g}" for name in SCORERS)
            + f" | {'yes' if r['degenerate'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the study and print its tables; return the summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a tiny grid on tiny data (seconds)")
    parser.add_argument("--data", choices=["paper", "toy"], default="paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="simulation chunk cache (paper data)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = CONFIGS[args.data, args.fast]
    start = time.perf_counter()
    splits = load_domains(args.data, cfg, args.seed, args.cache_dir)
    print(
        f"data: {splits['data']}, each domain divided by its training-split pixel std; "
        f"{cfg.n_train} source + {cfg.n_train} target training rows, {cfg.n_val} + {cfg.n_val} validation "
        f"rows, {cfg.n_test} labelled target test rows; {cfg.max_epochs} epochs, seed {args.seed}",
        flush=True,
    )
    rows = evaluate_grid(cfg, splits, args.seed)
    summary = summarise(rows)
    print(markdown_tables(rows, summary))
    print(f"total time {time.perf_counter() - start:.0f} s")
    return summary


if __name__ == "__main__":
    main()
