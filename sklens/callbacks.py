"""skorch callbacks: schedules (learning rate, DANN's) and monitoring (a finite-loss guard, progress)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from sklens.exceptions import NonFiniteLossError
from sklens.nn.layers import GradientReversal


def reversal_coefficient(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s schedule ``2 / (1 + exp(-gamma * progress)) - 1``, from 0 at the start to ~1."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def cosine_schedule(max_epochs: int) -> LRScheduler:
    """The learning rate annealed from its value to near 0 along a cosine over ``max_epochs`` epochs.

    Epoch e trains at ``lr * (1 + cos(pi * e / max_epochs)) / 2`` (Loshchilov & Hutter 2017, without
    restarts); the history records each epoch's rate as ``event_lr``.

    Parameters
    ----------
    max_epochs : int
        The epochs of the fit.

    Returns
    -------
    skorch.callbacks.LRScheduler
        The schedule, stepped once per epoch.

    Examples
    --------
    >>> from sklens import CNNRegressor
    >>> model = CNNRegressor(max_epochs=10, callbacks=[("lr_schedule", cosine_schedule(10))])
    """
    return LRScheduler(policy=CosineAnnealingLR, T_max=max_epochs)


#: The learning-rate schedules of a regressor's ``lr_schedule``: each makes its callback from the fit's
#: epochs (None: a constant rate).
LR_SCHEDULES: dict[str, Callable[[int], Callback] | None] = {"constant": None, "cosine": cosine_schedule}


class _DANNSchedule(Callback, ABC):
    """Ganin et al.'s schedule over the fraction ``p`` of training done, set before every step.

    ``p`` is the number of optimisation steps taken divided by the real total (``max_epochs`` times
    the number of batches per epoch), so the schedule reaches ~1 however long training is. Subclasses
    say where the value goes in ``apply``.
    """

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = gamma

    def initialize(self) -> _DANNSchedule:
        self.steps_done_ = 0
        self.total_steps_ = None
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs) -> None:
        if self.total_steps_ is None:
            steps_per_epoch = len(net.get_iterator(dataset_train, training=True))
            self.total_steps_ = max(1, steps_per_epoch * net.max_epochs)

    def on_batch_begin(self, net, batch=None, training: bool = False, **kwargs) -> None:
        if not training:
            return
        self.apply(net, reversal_coefficient(min(1.0, self.steps_done_ / self.total_steps_), self.gamma))
        self.steps_done_ += 1

    @abstractmethod
    def apply(self, net, value: float) -> None:
        """Set the schedule's ``value`` on ``net`` for the coming step (and record it)."""

    @staticmethod
    def _set_reversal(net, coefficient: float) -> None:
        for layer in reversal_layers(net.adaptation_loss_):
            layer.coefficient = coefficient
        net.history.record_batch("reversal_coefficient", coefficient)


class ReversalSchedule(_DANNSchedule):
    """Schedule the coefficient of every gradient reversal layer; the loss weight stays ``lambda_da``.

    DANN's default (``schedule='reversal'``): the coefficient follows
    ``2 / (1 + exp(-gamma p)) - 1`` and is recorded in the history as ``reversal_coefficient``.

    Parameters
    ----------
    gamma : float
        Steepness of the schedule; Ganin et al. use 10.
    """

    def apply(self, net, value: float) -> None:
        self._set_reversal(net, value)


class LossWeightSchedule(_DANNSchedule):
    """Schedule the weight of the domain loss; the gradient reversal coefficient stays 1.

    DANN's ``schedule='loss_weight'`` (the form of Swierc et al. 2023): the step's loss weight is
    ``lambda_da * (2 / (1 + exp(-gamma p)) - 1)``, recorded in the history as ``lambda_da``; the
    coefficient, 1, as ``reversal_coefficient``. The weight scales the domain classifier's gradient
    as well as the reversed gradient reaching the features.

    Parameters
    ----------
    gamma : float
        Steepness of the schedule; Ganin et al. use 10.
    """

    def apply(self, net, value: float) -> None:
        self._set_reversal(net, 1.0)
        net.lambda_da_ = net.lambda_da * value


class FiniteLossCheck(Callback):
    """Stop a fit at the first training batch whose loss terms or gradients are not all finite.

    After every training step's backward pass, each history entry of that batch whose name ends in
    ``loss`` (the terms such as ``task_loss`` and ``adaptation_loss``, then ``train_loss``) is checked,
    and then every learnable parameter's gradient, before the optimiser applies it: a NaN or infinite
    value raises [`NonFiniteLossError`][sklens.exceptions.NonFiniteLossError] naming the epoch (from 1),
    the batch (from 1) and every non-finite term or parameter, instead of training on with a broken
    model. A finite loss can have a non-finite gradient (an SVD with repeated singular values, say);
    left alone, it turns every weight into NaN and the next step fails somewhere unrelated, or the
    model silently predicts NaN.
    """

    def on_grad_computed(self, net, named_parameters, batch=None, training: bool = False, **kwargs) -> None:
        if not training:
            return
        self._check_recorded_terms(net)  # a non-finite loss is the cause; say so first
        parameters = [(name, p.grad) for name, p in named_parameters if p.grad is not None]
        # One read on the host per step: a NaN or an infinity anywhere makes the sum of sums non-finite
        # (0.1 ms for the paper's CNN on a CPU core, against 0.6 ms for an isfinite per parameter).
        if not parameters or torch.isfinite(torch.stack([g.sum() for _, g in parameters]).sum()):
            return
        names = [name for name, g in parameters if not torch.isfinite(g).all()]
        if not names:  # finite gradients whose sum overflowed
            return
        raise NonFiniteLossError(
            f"{_where(net)}: non-finite gradient of {', '.join(names[:5])}"
            f"{f' and {len(names) - 5} more' if len(names) > 5 else ''} with finite loss terms; training "
            "stopped before the optimiser applied it. A smaller lr or lambda_da, or a larger batch_size, "
            "usually helps."
        )

    def on_batch_end(self, net, batch=None, training: bool = False, **kwargs) -> None:
        if training:
            self._check_recorded_terms(net)

    @staticmethod
    def _check_recorded_terms(net) -> None:
        record = net.history[-1, "batches", -1]
        bad = {
            key: value for key, value in record.items() if key.endswith("loss") and not math.isfinite(value)
        }
        if bad:
            terms = ", ".join(f"{key}={value}" for key, value in bad.items())
            raise NonFiniteLossError(
                f"{_where(net)}: non-finite loss ({terms}); training stopped. A smaller lr, inputs "
                "scaled to a moderate range (sklens.preprocessing.ImageNormalizer) or a larger batch_size "
                "usually help."
            )


def _where(net) -> str:
    """``"CNNRegressor at epoch 3, batch 7"`` for the batch being trained."""
    return f"{type(net).__name__} at epoch {len(net.history)}, batch {len(net.history[-1, 'batches'])}"


def reversal_layers(module) -> list[GradientReversal]:
    """All gradient reversal layers inside ``module``."""
    return [m for m in module.modules() if isinstance(m, GradientReversal)]


class EpochProgressBar(Callback):
    """A progress bar over the epochs of a fit, with an ETA and the latest losses.

    The bar counts up to ``max_epochs`` (early stopping ends it sooner) and shows the last value of
    each of ``keys`` found in the history. It is written to standard error by tqdm.

    Parameters
    ----------
    desc : str or None
        Label in front of the bar.
    keys : sequence of str
        History columns shown after the bar, when present.

    Examples
    --------
    >>> from sklens import LensClassifier
    >>> from sklens.callbacks import EpochProgressBar
    >>> clf = LensClassifier(callbacks=[("progress", EpochProgressBar("plain CNN"))])
    """

    def __init__(
        self, desc: str | None = None, keys: Sequence[str] = ("train_loss", "valid_loss", "valid_acc")
    ) -> None:
        self.desc = desc
        self.keys = keys

    def initialize(self) -> EpochProgressBar:
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        from tqdm.auto import tqdm

        self.first_epoch_ = len(net.history)
        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch")

    def on_epoch_end(self, net, **kwargs) -> None:
        self._show(net)

    def on_train_end(self, net, **kwargs) -> None:
        self._show(net)  # the epoch that early stopping ended, whose on_epoch_end may not reach us
        self.bar_.close()
        self.bar_ = None  # a tqdm bar cannot be pickled with the net

    def _show(self, net) -> None:
        if not len(net.history):
            return
        row = net.history[-1]
        self.bar_.set_postfix({key: f"{row[key]:.4g}" for key in self.keys if key in row}, refresh=False)
        self.bar_.update(len(net.history) - self.first_epoch_ - self.bar_.n)


class PopulationReweighting(Callback):
    """Train as under the target's lens population, estimated anew from the target images each epoch.

    From epoch ``start`` on, before each epoch: the model's posterior samples of the parameter on (up
    to ``max_images`` of) the unlabelled target images give an estimate of the target's population
    ([`estimate_population`][sklens.population.estimate_population], under the population the model
    has been trained under: the mean of the populations of the epochs trained so far, as a model
    trained on a mixture of data sets learns the mixture). Where the estimates' running mean differs
    from the source's population by a total variation of at least ``threshold``, the source rows are
    drawn with probabilities ``π_t(θ) / π_s(θ)`` of their labels (``sampler``), so that both the task
    loss and the adaptation loss see the source as if it followed
    the target's population (importance-weighted alignment, Combes et al. 2020, in its resampling
    form); below it the rows stay shuffled, as without the callback. The history records
    ``population_tv`` (the estimate's distance from the source's) each epoch.

    Parameters
    ----------
    X_tgt : numpy.ndarray
        Unlabelled target images.
    parameter : int
        The column of y whose population differs.
    prior : Population
        The source labels' population (what the simulation drew from).
    sampler : PopulationSampler
        The training loader's sampler (``iterator_train__sampler``).
    edges : array-like, optional
        The estimate's bins (the prior's by default).
    start : int or None
        The first epoch whose estimate reweights the source (the model must have learnt something
        first); None: none, the source stays as ``initial`` makes it.
    threshold : float
        The total variation below which the source is left as it is.
    n_samples : int
        Posterior samples per target image.
    max_images : int
        Target images the estimate uses (the first ones).
    initial : Population, optional
        The population to train under before ``start`` (from the first epoch): a known one, or the
        estimate of an earlier fit. None: the source's as it is.
    """

    def __init__(
        self,
        X_tgt,
        parameter: int,
        prior,
        sampler,
        edges=None,
        start: int | None = 1,
        threshold: float = 0.0,
        n_samples: int = 100,
        max_images: int = 2000,
        initial=None,
    ) -> None:
        self.X_tgt = X_tgt
        self.parameter = parameter
        self.prior = prior
        self.sampler = sampler
        self.edges = edges
        self.start = start
        self.threshold = threshold
        self.n_samples = n_samples
        self.max_images = max_images
        self.initial = initial

    def initialize(self) -> PopulationReweighting:
        self.epoch_populations_ = []
        self.estimates_ = []
        self.labels_ = None
        return self

    @property
    def target_population_(self):
        """The estimate of the target's population: the mean of the estimates made so far (before the
        first, ``initial`` or the source's)."""
        return _mean_population(self.estimates_) if self.estimates_ else self._before_estimates

    @property
    def _before_estimates(self):
        """What the source is drawn under until an estimate is made: ``initial``, or the source's."""
        return self.prior if self.initial is None else self.initial

    @property
    def training_population_(self):
        """The population the model has been trained under: the mean over the epochs trained so far."""
        return _mean_population(self.epoch_populations_) if self.epoch_populations_ else self.prior

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        self.sampler.reset(len(X))
        labels = np.asarray(y, dtype=np.float64).reshape(len(X), -1)[:, self.parameter]
        self.labels_ = labels * net.y_scale_[self.parameter] + net.y_mean_[self.parameter]
        if self.initial is not None:
            self.sampler.reweight(self.initial.density(self.labels_) / self.prior.density(self.labels_))

    def on_epoch_begin(self, net, **kwargs) -> None:
        from sklens.population import estimate_population

        epoch = len(net.history) - 1  # the new epoch's row is already there
        if self.start is None or epoch < self.start:
            self.epoch_populations_.append(self._before_estimates)
            return
        samples = net.sample_posterior(self.X_tgt[: self.max_images], self.n_samples, random_state=epoch)
        samples = np.asarray(samples).reshape(self.n_samples, -1, net.n_outputs_)[..., self.parameter]
        estimate = estimate_population(samples, self.training_population_, self.edges, n_bootstrap=0)
        distance = estimate.total_variation(self.prior)
        net.history.record("population_tv", distance)
        if distance < self.threshold:
            self.sampler.reset(len(self.labels_))
            self.epoch_populations_.append(self.prior)
            return
        self.estimates_.append(estimate)
        target = self.target_population_  # the estimates' running mean: steadier than the last alone
        self.sampler.reweight(target.density(self.labels_) / self.prior.density(self.labels_))
        self.epoch_populations_.append(target)


def _mean_population(populations: list):
    """The mean of populations (on the first one's bins)."""
    from sklens.population import Population

    edges = populations[0].edges
    weights = np.mean([p.rebinned(edges).weights for p in populations], axis=0)
    return Population(edges, weights, name=populations[0].name)
