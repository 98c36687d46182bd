"""sklens.callbacks.EpochProgressBar (the DANN reversal schedule is tested with the regressors)."""

import pickle

import numpy as np

from sklens import LensClassifier
from sklens.callbacks import EpochProgressBar

SMALL = {"n_filters": (2, 2, 2), "kernel_sizes": (3, 3, 3), "hidden": (4, 4), "random_state": 0}


def _data(n=48):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 1, 8, 8)).astype(np.float32), np.arange(n) % 2


def test_bar_counts_the_epochs_and_shows_the_losses(capsys):
    X, y = _data()
    clf = LensClassifier(
        max_epochs=3, train_split=None, callbacks=[("bar", EpochProgressBar("tiny"))], **SMALL
    )
    clf.fit(X, y)
    err = capsys.readouterr().err
    assert "tiny" in err and "3/3" in err and "train_loss=" in err
    assert pickle.loads(pickle.dumps(clf)).predict_proba(X).shape == (len(X), 2)


def test_bar_ends_at_the_epoch_early_stopping_chose(capsys):
    X, y = _data()
    clf = LensClassifier(max_epochs=40, patience=1, callbacks=[("bar", EpochProgressBar())], **SMALL)
    clf.fit(X, y)
    epochs = len(clf.history)
    assert epochs < 40
    assert f"{epochs}/40" in capsys.readouterr().err
