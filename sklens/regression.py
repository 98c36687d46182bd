"""Domain-adaptive regressors: scikit-learn estimators built on skorch.

``CNNRegressor`` trains on labelled source rows only; ``DANNRegressor``, ``MMDRegressor``,
``CORALRegressor``, ``RSDRegressor`` and ``DAREGRAMRegressor`` add an adaptation loss between the
features of a source batch and a target batch at every step. All are thin subclasses of
[`DomainAdaptiveRegressor`][sklens.base.DomainAdaptiveRegressor], which owns the training loop; a
method is its loss.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import PassthroughScoring
from torch import nn

from sklens._deprecation import DEPRECATED, renamed
from sklens.base import AUTO_SETTINGS, DomainAdaptiveRegressor, input_kind
from sklens.callbacks import LossWeightSchedule, ReversalSchedule
from sklens.nn.losses import (
    BANDWIDTHS,
    CORALLoss,
    DAREGRAMLoss,
    DomainAdversarialLoss,
    MMDLoss,
    RSDLoss,
)
from sklens.nn.networks import DomainClassifier

__all__ = [
    "METHODS",
    "PAPER_SETTINGS",
    "CNNRegressor",
    "DANNRegressor",
    "MMDRegressor",
    "CORALRegressor",
    "RSDRegressor",
    "DAREGRAMRegressor",
]


class CNNRegressor(DomainAdaptiveRegressor):
    """Regression without domain adaptation: trains on labelled source rows only.

    Target rows (NaN ``y`` or ``X_tgt``) are accepted so every sklens regressor takes the same inputs,
    and ignored in training, unless ``domain_batchnorm`` is set: then each step also passes a target
    batch through the network, only so that its BatchNorm layers learn the target's statistics (AdaBN,
    Li et al. 2018; the source rows train exactly as without it). ``n_target_rows_`` records how many
    target rows there were.

    Parameters
    ----------
    module : torch.nn.Module class or instance, optional
        The network. By default the CNN of Swierc et al. (2023, Table 2) for images and an MLP for
        (n_samples, n_features) input, sized from the data at ``fit``.
    feature_layer : str
        Name of the sub-module whose output is the feature vector (``'features'`` for sklens networks).
    lr : float or 'auto'
        Adam's learning rate. ``'auto'``: 3e-4 for images, 3e-3 for (n_samples, n_features) input
        (the paper's 1e-5: ``PAPER_SETTINGS['none']``).
    max_epochs : int
        Epochs; an epoch covers the source rows once.
    batch_size : int
        Source rows per step.
    optimizer : torch.optim.Optimizer class
        The optimizer (Adam, as in the paper); its own parameters go as ``optimizer__name``, e.g.
        ``optimizer__weight_decay=1e-4``.
    criterion : torch.nn.Module class
        The task loss (mean squared error).
    train_split : callable, optional
        How skorch splits off a validation set; None (the default) trains on every source row.
    callbacks : list of skorch callbacks, optional
        Callbacks added to the defaults (which record the task and adaptation losses per epoch), e.g.
        ``[EpochProgressBar()]`` ([`EpochProgressBar`][sklens.callbacks.EpochProgressBar]).
    device : str
        ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda'``, ...
    random_state : int, optional
        Seeds weights, shuffling and target sampling: bit-identical predictions on the CPU.
    verbose : int
        0 prints nothing; 1 prints skorch's table of losses per epoch.
    lambda_da : float
        Weight of the adaptation loss; unused here (there is none), accepted so that every sklens
        regressor takes the same parameters.
    **kwargs
        The ensemble, uncertainty-head, scaling and BatchNorm parameters of
        [`DomainAdaptiveRegressor`][sklens.base.DomainAdaptiveRegressor] (``n_members``, ``head``:
        ``'point'``, ``'gaussian'`` or ``'flow'``, ``beta``, ``flow_context``, ``flow_transforms``,
        ``flow_hidden``, ``target_scaling``, ``domain_batchnorm``, ``predict_domain``); any other
        parameter of
        [`skorch.NeuralNetRegressor`](https://skorch.readthedocs.io/en/stable/regressor.html), and
        parameters of the network as ``module__name`` (e.g. ``module__hidden=(32,)``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import CNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 1, 16, 16)).astype("float32")
    >>> y = X.mean(axis=(1, 2, 3))
    >>> model = CNNRegressor(max_epochs=2, lr=1e-3, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    #: A baseline without adaptation: no domain-specific BatchNorm by default, on images too.
    auto_settings = {
        "image": {**AUTO_SETTINGS["image"], "domain_batchnorm": False},
        "table": AUTO_SETTINGS["table"],
    }


class MMDRegressor(DomainAdaptiveRegressor):
    """Regression with a multi-kernel maximum mean discrepancy between source and target features.

    The loss of each step is MSE + ``lambda_da`` * MMD^2 between the features of a source batch and a
    target batch of the same size (Swierc et al. 2023).

    Parameters
    ----------
    lambda_da : float
        Weight of the MMD term; the paper's 1.4 by default.
    kernel_num : int
        Number of Gaussian kernels (5).
    kernel_mul : float
        Ratio between successive bandwidths (2: {1/4, ..., 4} x the mean squared pairwise distance of
        the joint batch).
    mmd_estimator : {'biased', 'unbiased'}
        The paper's V-statistic, or the unbiased U-statistic.
    bandwidth : {'mean', 'median'}
        The base of the kernels' bandwidths: the joint batch's mean squared pairwise distance (the
        paper's) or its median. With the mean, one very bright image in a batch (features ~100x the
        bulk's norm at the paper's size) inflates every bandwidth and flattens the kernel for the rest of
        the batch; the median is not moved by a few such rows (docs/studies/mmd-outliers.md).
    lr : float or 'auto'
        ``'auto'``: on images, 1e-3 for a fit of at most ``long_fit_steps`` (5,000) optimisation
        steps (``ceil(n_rows / batch_size) * max_epochs``) and 6e-5 for a longer one; 3e-3 for
        (n_samples, n_features) input. The paper's settings: ``PAPER_SETTINGS``.
    lr_schedule : {'auto', 'constant', 'cosine'}
        ``'auto'``: on images, ``'cosine'`` (from 1e-3) for a fit of at most ``long_fit_steps`` steps
        and ``'constant'`` (6e-5) for a longer one: the cosine measured best at 1,320 and 2,820 steps,
        the constant rate at 7,500 and 32,820 (2,800 to 35,000 images; docs/studies/defaults.md);
        constant for (n_samples, n_features) input. ``settings_`` records what a fit resolved.
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import MMDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype("float32")
    >>> y = X.mean(axis=(1, 2, 3))
    >>> model = MMDRegressor(max_epochs=1, random_state=0).fit(X, y, X_tgt=X_tgt)
    >>> bool(model.history[-1, "adaptation_loss"] > 0)
    True
    """

    _parameter_constraints: dict = {
        **DomainAdaptiveRegressor._parameter_constraints,
        "kernel_num": [Interval(Integral, 1, None, closed="left")],
        "kernel_mul": [Interval(Real, 0, None, closed="neither")],
        "mmd_estimator": [StrOptions({"biased", "unbiased"})],
        "bandwidth": [StrOptions(set(BANDWIDTHS))],
    }

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 1.4,
        kernel_num: int = 5,
        kernel_mul: float = 2.0,
        mmd_estimator: str = "biased",
        bandwidth: str = "mean",
        lr: float | str = "auto",
        lr_schedule: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lr_schedule=lr_schedule, lambda_da=lambda_da, **kwargs)
        self.kernel_num = kernel_num
        self.kernel_mul = kernel_mul
        self.mmd_estimator = mmd_estimator
        self.bandwidth = bandwidth

    #: MMD's image defaults: Adam from 1e-3 annealed along a cosine measured best (docs/studies/defaults.md).
    auto_settings = {
        "image": {**AUTO_SETTINGS["image"], "lr": 1e-3, "lr_schedule": "cosine"},
        "table": AUTO_SETTINGS["table"],
    }
    #: On images, a fit of more optimisation steps than this (``ceil(n_rows / batch_size) * max_epochs``)
    #: gets ``long_fit_settings`` instead: the cosine from 1e-3 measured best at 1,320 and 2,820 steps, a
    #: constant 6e-5 at 7,500 and 32,820 (the paper's size; docs/studies/defaults.md).
    long_fit_steps = 5_000
    long_fit_settings = {"lr": 6e-5, "lr_schedule": "constant"}

    def auto_settings_for(self, input_shape: tuple[int, ...], n_rows: int) -> dict:
        auto = super().auto_settings_for(input_shape, n_rows)
        batch = n_rows if self.batch_size == -1 else self.batch_size
        if input_kind(input_shape) == "image" and -(-n_rows // batch) * self.max_epochs > self.long_fit_steps:
            return {**auto, **self.long_fit_settings}
        return auto

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return MMDLoss(
            kernel_num=self.kernel_num,
            kernel_mul=self.kernel_mul,
            mmd_estimator=self.mmd_estimator,
            bandwidth=self.bandwidth,
        )


class DANNRegressor(DomainAdaptiveRegressor):
    """Domain-adversarial regression (Ganin et al. 2016) as in Swierc et al. (2023).

    A domain classifier (the task head's two linear layers repeated, softmax + NLL) sits behind a
    gradient reversal layer on the features; the loss is MSE + weight * domain cross-entropy. One of
    the two is scheduled by ``2 / (1 + exp(-gamma p)) - 1``, ``p`` being the fraction of all
    optimisation steps done: the reversal coefficient (``schedule='reversal'``, Ganin et al.; the
    weight stays ``lambda_da``) or the weight (``schedule='loss_weight'``, the form of Swierc et al.:
    ``lambda_da`` times the schedule, the coefficient staying 1). The history records both per step
    and per epoch, as ``lambda_da`` and ``reversal_coefficient``.

    The weight scales the domain classifier's own gradient too, so with plain SGD its effective
    learning rate is ``lambda_da * lr``; Adam, the default optimiser, divides a constant scale of the
    gradient out again, so there the weight acts mainly on the balance between the task and the
    reversed domain gradient in the features. ``domain_lr`` sets the classifier's rate directly.

    Parameters
    ----------
    lambda_da : float
        Weight of the domain loss (1); its largest value with ``schedule='loss_weight'``.
    gamma : float
        Steepness of the schedule (10).
    domain_hidden : int
        Hidden units of the domain classifier (128, as the task head).
    schedule : {'reversal', 'loss_weight'}
        What the schedule drives: the gradient reversal coefficient (the default) or the domain
        loss weight (see [`LossWeightSchedule`][sklens.callbacks.LossWeightSchedule]).
    domain_lr : float or None
        Learning rate of the domain classifier's parameters, as their own parameter group of the
        optimiser (it overrides any ``optimizer__param_groups`` entry for them). None: ``lr``, as
        for every other parameter.
    lr : float or 'auto'
        ``'auto'``: 1e-3 for images (the best of 1e-4, 3e-4 and 1e-3 with the other defaults, measured
        on another draw of the paper's domains: docs/studies/defaults.md), 3e-3 for (n_samples,
        n_features) input (the paper's 6e-5: ``PAPER_SETTINGS``).
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import DANNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype("float32")
    >>> y = X.mean(axis=(1, 2, 3))
    >>> model = DANNRegressor(max_epochs=2, random_state=0).fit(X, y, X_tgt=X_tgt)
    >>> coefficients = model.history[:, "reversal_coefficient"]
    >>> list(coefficients) == sorted(coefficients)
    True
    """

    _parameter_constraints: dict = {
        **DomainAdaptiveRegressor._parameter_constraints,
        "gamma": [Interval(Real, 0, None, closed="left")],
        "domain_hidden": [Interval(Integral, 1, None, closed="left")],
        "schedule": [StrOptions({"reversal", "loss_weight"})],
        "domain_lr": [Interval(Real, 0, None, closed="neither"), None],
    }

    #: DANN's image rate: 1e-3 measured best (docs/studies/defaults.md).
    auto_settings = {"image": {**AUTO_SETTINGS["image"], "lr": 1e-3}, "table": AUTO_SETTINGS["table"]}

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 1.0,
        gamma: float = 10.0,
        domain_hidden: int = 128,
        schedule: str = "reversal",
        domain_lr: float | None = None,
        lr: float | str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)
        self.gamma = gamma
        self.domain_hidden = domain_hidden
        self.schedule = schedule
        self.domain_lr = domain_lr

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return DomainAdversarialLoss(DomainClassifier(n_features, self.domain_hidden))

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        scheduler = ReversalSchedule if self.schedule == "reversal" else LossWeightSchedule
        schedule = [
            ("reversal_schedule", scheduler(self.gamma)),
            ("reversal_coefficient", PassthroughScoring(name="reversal_coefficient", on_train=True)),
        ]
        return callbacks[:-1] + schedule + callbacks[-1:]

    def get_params_for_optimizer(self, prefix: str, named_parameters) -> tuple[list, dict]:
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if self.domain_lr is None or prefix != "optimizer":
            return args, kwargs
        domain = list(self.adaptation_loss_.parameters())
        ids = {id(p) for p in domain}
        others = [{**group, "params": [p for p in group["params"] if id(p) not in ids]} for group in args[0]]
        groups = [group for group in others if group["params"]]
        return ([*groups, {"params": domain, "lr": self.domain_lr}],), kwargs


class CORALRegressor(DomainAdaptiveRegressor):
    """Regression with Deep CORAL: align the covariances of source and target features.

    Not in Swierc et al. (2023); it shows that a new method is a new loss
    ([`sklens.nn.losses.CORALLoss`][sklens.nn.losses.CORALLoss]).

    Parameters
    ----------
    lambda_da : float
        Weight of the CORAL term (1).
    lr : float or 'auto'
        ``'auto'``: 3e-4 for images, as for the other adaptation methods, 3e-3 for (n_samples,
        n_features) input.
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].
    """

    def __init__(self, module=None, *, lambda_da: float = 1.0, lr: float | str = "auto", **kwargs) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return CORALLoss()


class RSDRegressor(DomainAdaptiveRegressor):
    """Regression with Representation Subspace Distance (Chen et al. 2021).

    Aligns the subspaces spanned by the source and the target features of a batch (their principal
    angles) and the ordering of their orthonormal bases, rather than the feature distributions, so the
    features' scale, which a regressor depends on, is left alone
    ([`sklens.nn.losses.RSDLoss`][sklens.nn.losses.RSDLoss]). The subspaces only differ when a batch
    has fewer rows than the features have columns, so ``batch_size`` must be below the feature width
    (800 for the paper's CNN on 40 x 40 images; -1, all rows, is refused too); ``fit`` says so before
    training otherwise.

    Parameters
    ----------
    lambda_da : float
        Weight of the RSD term (0.001, the reference code's).
    tradeoff_subspace : float
        Weight of the subspace distance (the sum of sines of the principal angles) inside the term (1).
    tradeoff_bmp : float
        Weight of the base mismatch penalty inside the term (0.1, the reference code's).
    tradeoff_angle : float, optional
        The former name of ``tradeoff_subspace``.

        .. deprecated:: 1.0
            Renamed ``tradeoff_subspace`` (DARE-GRAM's ``tradeoff_angle`` weighs another term);
            removed in 1.1.
    lr : float or 'auto'
        ``'auto'``: 3e-4 for images, as for the other adaptation methods, 3e-3 for (n_samples,
        n_features) input.
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import RSDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype("float32")
    >>> y = X.mean(axis=(1, 2, 3))
    >>> model = RSDRegressor(max_epochs=1, random_state=0).fit(X, y, X_tgt=X_tgt)
    >>> bool(model.history[-1, "adaptation_loss"] > 0)
    True
    """

    _parameter_constraints: dict = {
        **DomainAdaptiveRegressor._parameter_constraints,
        "tradeoff_subspace": [Interval(Real, 0, None, closed="left")],
        "tradeoff_bmp": [Interval(Real, 0, None, closed="left")],
        "tradeoff_angle": [Interval(Real, 0, None, closed="left"), StrOptions({DEPRECATED})],
    }

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 0.001,
        tradeoff_subspace: float = 1.0,
        tradeoff_bmp: float = 0.1,
        tradeoff_angle: float | str = DEPRECATED,
        lr: float | str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)
        self.tradeoff_subspace = tradeoff_subspace
        self.tradeoff_bmp = tradeoff_bmp
        self.tradeoff_angle = tradeoff_angle

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        if self.batch_size == -1 or self.batch_size >= n_features:
            raise ValueError(
                f"RSDRegressor compares the subspaces spanned by a batch's features, so batch_size must "
                f"be below the feature width ({n_features}); got batch_size={self.batch_size}."
            )
        subspace = renamed(
            type(self).__name__,
            "tradeoff_angle",
            self.tradeoff_angle,
            "tradeoff_subspace",
            self.tradeoff_subspace,
            since="1.0",
            removal="1.1",
        )
        return RSDLoss(subspace, self.tradeoff_bmp)


class DAREGRAMRegressor(DomainAdaptiveRegressor):
    """Regression with DARE-GRAM (Nejjar et al. 2023): align the inverse Gram matrices of the features.

    A linear head's least-squares solution depends on the features through the inverse of their Gram
    matrix; DARE-GRAM aligns the angles between its columns and the scale of its leading eigenvalues
    across domains ([`sklens.nn.losses.DAREGRAMLoss`][sklens.nn.losses.DAREGRAMLoss]).

    Parameters
    ----------
    lambda_da : float
        Weight of the DARE-GRAM term (1; its own weights are ``tradeoff_angle`` and
        ``tradeoff_scale``).
    tradeoff_angle : float
        Weight of the angle term (0.05, the authors' default).
    tradeoff_scale : float
        Weight of the scale term (0.001, the authors' default).
    threshold : float
        Fraction of the Gram matrix's eigenvalue sum the kept principal components explain, in (0, 1]
        (0.9, the authors' default).
    lr : float or 'auto'
        ``'auto'``: 3e-4 for images, as for the other adaptation methods, 3e-3 for (n_samples,
        n_features) input.
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].

    Examples
    --------
    >>> import numpy as np
    >>> from sklens import DAREGRAMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype("float32")
    >>> y = X.mean(axis=(1, 2, 3))
    >>> model = DAREGRAMRegressor(max_epochs=1, random_state=0).fit(X, y, X_tgt=X_tgt)
    >>> bool(model.history[-1, "adaptation_loss"] > 0)
    True
    """

    _parameter_constraints: dict = {
        **DomainAdaptiveRegressor._parameter_constraints,
        "tradeoff_angle": [Interval(Real, 0, None, closed="left")],
        "tradeoff_scale": [Interval(Real, 0, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 1.0,
        tradeoff_angle: float = 0.05,
        tradeoff_scale: float = 0.001,
        threshold: float = 0.9,
        lr: float | str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)
        self.tradeoff_angle = tradeoff_angle
        self.tradeoff_scale = tradeoff_scale
        self.threshold = threshold

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return DAREGRAMLoss(self.tradeoff_angle, self.tradeoff_scale, self.threshold)


#: Every regressor by the name the experiments, the command line, the tests and the scripts use for
#: its method: ``'none'`` is training without adaptation (the oracle of the experiments is the same
#: class fitted on target labels).
METHODS: dict[str, type[DomainAdaptiveRegressor]] = {
    "none": CNNRegressor,
    "dann": DANNRegressor,
    "mmd": MMDRegressor,
    "coral": CORALRegressor,
    "rsd": RSDRegressor,
    "daregram": DAREGRAMRegressor,
}


#: The configuration of Swierc et al. (2023), per method: ``DANNRegressor(**PAPER_SETTINGS['dann'])``
#: trains DANN as the paper did (its point head, one BatchNorm over both domains, the plain Table 2
#: CNN, its learning rate; 30 epochs and batch 32 are the estimators' defaults too). The library's
#: defaults differ where measurements found better (docs/studies/defaults.md).
PAPER_SETTINGS: dict[str, dict] = {
    method: {
        "head": "point",
        "domain_batchnorm": False,
        "module__feature_norm": False,
        "lr": 1e-5 if method == "none" else 6e-5,
        "lr_schedule": "constant",
    }
    for method in ("none", "dann", "mmd")
}
