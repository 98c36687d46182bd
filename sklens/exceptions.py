"""Warnings and errors that sklens raises for conditions a user should act on."""

from __future__ import annotations

__all__ = ["CalibrationWarning", "NoTargetDataWarning", "NonFiniteLossError", "UnlabelledRowsWarning"]


class NoTargetDataWarning(UserWarning):
    """A domain-adaptive estimator was fitted without target rows, so it trained without adaptation.

    Give target rows as ``X_tgt`` or as rows of ``X`` whose ``y`` is NaN. Inside a cross-validation,
    split with [`DomainStratifiedKFold`][sklens.model_selection.DomainStratifiedKFold] so that every
    fold keeps some.
    """


class CalibrationWarning(UserWarning):
    """A regressor could not hold out enough source rows to calibrate its predictive spread.

    It trained on every row and kept the spread its head learnt (``spread_scale_`` 1). Give more
    labelled rows, a larger ``calibration_fraction``, or ``calibration_fraction=0`` to fit without
    calibration.
    """


class UnlabelledRowsWarning(UserWarning):
    """Rows of ``X`` whose ``y`` is NaN became target rows although ``X_tgt`` was given separately.

    NaN in ``y`` marks target rows (the packed form); with a separate ``X_tgt`` it more often means
    simulated lenses with a missing label, which should be dropped instead. The warning names how many
    rows of each kind there are.
    """


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite during training; the fit stopped at that batch.

    The message names the estimator, the epoch, the batch and each non-finite loss term.
    """
