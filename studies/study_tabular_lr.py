"""Which Adam learning rate should ``lr='auto'`` use for (n_samples, n_features) input?

Held-out R^2 of the default MLP (``CNNRegressor`` on 2-D input: hidden (64, 64), 30 epochs, batch 32)
on three standardised scikit-learn problems, over three seeds. The paper's image rates (1e-5, 6e-5)
are far too low here: 30 epochs of a few hundred rows are a few hundred steps. Figures are recorded in
docs/studies/tabular-lr.md.

    PYTHONPATH=. python studies/study_tabular_lr.py
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_friedman1, make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklens import CNNRegressor

RATES = (6e-5, 3e-4, 1e-3, 3e-3, 1e-2)


def problems() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "make_regression(200, 10)": make_regression(200, 10, noise=1.0, random_state=0),
        "make_friedman1(1000)": make_friedman1(1000, noise=1.0, random_state=0),
        "make_regression(2000, 50)": make_regression(2000, 50, n_informative=10, noise=5.0, random_state=0),
    }


def main() -> None:
    print("| problem | " + " | ".join(f"lr {lr:g}" for lr in RATES) + " |")
    print("|---" * (len(RATES) + 1) + "|")
    for name, (X, y) in problems().items():
        X = StandardScaler().fit_transform(X)
        y = (y - y.mean()) / y.std()
        X_fit, X_test, y_fit, y_test = train_test_split(X, y, random_state=0)
        cells = []
        for lr in RATES:
            scores = [
                CNNRegressor(lr=lr, random_state=seed).fit(X_fit, y_fit).score(X_test, y_test)
                for seed in range(3)
            ]
            cells.append(f"{np.mean(scores):.3f} +- {np.std(scores):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
