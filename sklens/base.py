"""The base class of the domain-adaptive regressors: skorch wiring around one plug-in adaptation loss.

A new method is a loss (a torch module ``loss(features_src, features_tgt) -> scalar`` in
[`sklens.nn.losses`][sklens.nn.losses]) and a thin subclass of
[`DomainAdaptiveRegressor`][sklens.base.DomainAdaptiveRegressor] that returns it from
``make_adaptation_loss``. The class holds what makes a fit: building the modules
(``initialize_module``), ``fit``/``partial_fit``, and the one training step. What it composes lives in
its own modules: the heads in [`sklens.nn.heads`][sklens.nn.heads], the members of an ensemble in
[`sklens.nn.ensemble`][sklens.nn.ensemble] (a single model is the ensemble of one), domain BatchNorm in
[`sklens.nn.domain_norm`][sklens.nn.domain_norm], the target batches and the members' random streams in
[`sklens.nn.sampling`][sklens.nn.sampling], the predictive distribution (``predict``,
``sample_posterior``, ...) in [`sklens.predictive`][sklens.predictive], the packed form in
[`sklens.domains`][sklens.domains], input checks in ``sklens._validation``, the finite-loss guard and
DANN's schedule in [`sklens.callbacks`][sklens.callbacks].
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, Options, StrOptions
from skorch import NeuralNetRegressor
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.exceptions import NotInitializedError
from skorch.utils import to_tensor
from torch import nn

from sklens import __version__
from sklens._skorch import (
    AutoDeviceMixin,
    ParameterValidationMixin,
    seeded_torch,
    shared_tensor,
    stream_seed,
)
from sklens._validation import as_model_input, check_random_state_seed
from sklens.calibration import MIN_CALIBRATION_ROWS, spread_scales
from sklens.callbacks import LR_SCHEDULES, FiniteLossCheck
from sklens.domains import split_packed
from sklens.exceptions import CalibrationWarning, NoTargetDataWarning
from sklens.nn.domain_norm import DOMAINS, domain_rows, has_batchnorm, use_domain_batchnorm
from sklens.nn.ensemble import MemberLosses, forward_members, stack_networks, with_member_axis
from sklens.nn.heads import HEADS, make_head
from sklens.nn.networks import default_network
from sklens.nn.sampling import (
    MemberBatches,
    TargetSampler,
    member_random_stream,
    member_seeds,
    seeded_members,
)
from sklens.nn.tap import probe_widths
from sklens.predictive import PredictiveMixin, target_scales

__all__ = ["DomainAdaptiveRegressor"]

#: What the ``'auto'`` settings of a regressor become, on images (C, H, W) and on (n_samples,
#: n_features) tables. Images: the configuration that measured best on another draw of the paper's
#: domains (docs/studies/defaults.md); the paper's own settings are ``sklens.regression.PAPER_SETTINGS``.
#: Tables: Adam at 3e-3, within 0.008 of R^2 of the best rate on three tabular problems
#: (docs/performance.md, "Defaults of the tabular path"), with the point head on the plain MLP.
#: ``feature_norm`` is the default network's (``module__feature_norm`` overrides it).
AUTO_SETTINGS: dict[str, dict] = {
    "image": {
        "lr": 3e-4,
        "lr_schedule": "constant",
        "head": "gaussian",
        "domain_batchnorm": True,
        "feature_norm": True,
    },
    "table": {
        "lr": 3e-3,
        "lr_schedule": "constant",
        "head": "point",
        "domain_batchnorm": False,
        "feature_norm": False,
    },
}


def input_kind(input_shape: tuple[int, ...]) -> str:
    """The key of ``auto_settings`` for rows of ``input_shape``: ``'image'`` for (C, H, W), else ``'table'``.

    Examples
    --------
    >>> input_kind((1, 40, 40)), input_kind((8,))
    ('image', 'table')
    """
    return "image" if len(input_shape) == 3 else "table"


#: The parameters whose value may be ``'auto'`` (``feature_norm`` is the default network's).
AUTO_PARAMETERS = ("lr", "lr_schedule", "head", "domain_batchnorm")
#: Samples per held-out row from which the spread's calibration factors are learnt.
CALIBRATION_SAMPLES = 500
#: The loss terms a training step records, each also as its spread over an ensemble's members.
LOSS_TERMS = ("task_loss", "adaptation_loss")


class DomainAdaptiveRegressor(PredictiveMixin, ParameterValidationMixin, AutoDeviceMixin, NeuralNetRegressor):
    """Base class of the sklens regressors: a skorch regressor with a plug-in adaptation loss.

    Each training step takes a batch of labelled source rows and as many unlabelled target rows, passes
    their concatenation through the network once (so BatchNorm's statistics come from both domains,
    unless ``domain_batchnorm`` keeps them apart), and minimises
    ``task_loss + lambda_da * adaptation_loss`` where the adaptation loss compares the source and
    target features (the output of ``feature_layer``). Subclasses override ``make_adaptation_loss``;
    returning None trains on the source rows alone.

    A source batch with fewer rows than the adaptation loss is defined on (``loss.min_rows``: 2 for
    CORAL and the unbiased MMD, whose covariance or off-diagonal mean needs two rows) trains on the task
    loss alone; the last batch of an epoch is such a batch when ``len(X) % batch_size`` is 1. The
    history's ``adaptation_loss`` is then the mean over the batches where the term ran.

    Parameters
    ----------
    module : torch.nn.Module class or instance, optional
        The network. By default the CNN of Swierc et al. (2023, Table 2) for images and an MLP for
        (n_samples, n_features) input, sized from the data at ``fit``.
    feature_layer : str
        Name of the sub-module whose output is the feature vector (``'features'`` for sklens networks).
    lr : float or 'auto'
        Adam's learning rate. ``'auto'``: what ``auto_settings_for`` gives for the training data, from
        the class's ``auto_settings``: 3e-4 on images, 3e-3 on (n_samples, n_features) tables.
    lr_schedule : {'auto', 'constant', 'cosine'}
        How the learning rate moves over the ``max_epochs`` of a fit: ``'constant'``, or ``'cosine'``
        (annealed to near 0 along a cosine, stepped per epoch: `sklens.callbacks.cosine_schedule`;
        a ``partial_fit`` beyond ``max_epochs`` follows the cosine back up). ``'auto'``: the class's
        ``auto_settings``: constant, but for ``MMDRegressor``'s short fits on images.
    max_epochs : int
        Epochs; an epoch covers the source rows once.
    batch_size : int
        Source rows per step (-1: all of them).
    optimizer : torch.optim.Optimizer class
        The optimiser (Adam).
    criterion : torch.nn.Module class
        The task loss (mean squared error).
    train_split : callable or None
        skorch's validation split; None (the default) trains on every source row.
    callbacks : list of (name, callback) pairs or None
        Extra skorch callbacks.
    device : str
        ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda'``, ...
    random_state : int, numpy RandomState or None
        Seeds weights, shuffling and target sampling: bit-identical predictions on the CPU, for
        ``fit`` and for a sequence of ``partial_fit`` calls alike.
    verbose : int
        Print a table of epochs when positive.
    lambda_da : float
        Weight of the adaptation loss (>= 0).
    n_members : int
        Members of a deep ensemble trained together in one vectorised network (see
        [`sklens.nn.ensemble`][sklens.nn.ensemble]). Member k is initialised, shuffled and given target
        batches as a separate fit with ``random_state + k`` would be; ``predict`` returns the members'
        mean, ``predict(X, return_std=True)`` their spread too, ``predict_members`` each member's.
        The history's loss terms are the members' mean, ``*_spread`` their standard deviation.
    domain_batchnorm : bool or {'statistics', 'affine', 'auto'}
        ``'auto'`` (the default): True on images for the adaptive regressors, False for
        ``CNNRegressor`` (a baseline without adaptation) and on tables (the MLP has no BatchNorm).
        Separate BatchNorm statistics for source and target rows (True or ``'statistics'``: shared
        affine parameters, AdaBN; ``'affine'``: per-domain affine parameters too, DSBN), made by
        [`use_domain_batchnorm`][sklens.nn.domain_norm.use_domain_batchnorm] on the built network
        (after stacking, for an ensemble). Without an adaptation loss the target batch still passes
        through the network, to estimate the target statistics; a fit without target rows warns that
        they keep their initial values. False: one BatchNorm over both domains.
    predict_domain : {'target', 'source'}
        Whose BatchNorm statistics prediction, scoring, ``transform_features`` and the validation
        loss use with ``domain_batchnorm``.
    head : {'auto', 'gaussian', 'point', 'flow'}
        ``'auto'`` (the default): ``'gaussian'`` on images, ``'point'`` on tables.
        What the network predicts (see [`sklens.nn.heads`][sklens.nn.heads]). ``'point'``: a value
        per parameter, trained with ``criterion``. ``'gaussian'``: a mean and a variance per parameter
        (an output of width 2k), trained with the beta-NLL loss. ``'flow'``: the context (width
        ``flow_context``) of a conditional normalising flow over the k parameters (zuko's neural
        spline flow, extra ``flow``), trained by maximum likelihood; an ensemble has one flow per
        member. A network given as ``module`` must have the output width the head reads. The
        adaptation loss acts on the same features with every head.
    beta : float
        The beta-NLL exponent of the gaussian head, in [0, 1] (0: the Gaussian NLL; 0.5, the
        default, as recommended by Seitzer et al. 2022).
    flow_context : int
        The flow head's context width: the network's output width.
    flow_transforms : int
        The flow head's autoregressive spline transforms.
    flow_hidden : int
        Units of each of the two hidden layers of the flow's transforms.
    target_scaling : {'auto', 'standard', 'none'}
        ``'standard'``: train on each column of y standardised by its source mean and standard
        deviation (``y_mean_``, ``y_scale_``), so that parameters of different units weigh alike;
        predictions, standard deviations, samples and log-likelihoods are in the units of y.
        ``'auto'``: standard when y has several columns or the head is not ``'point'``, else none
        (a point model of one parameter trains on y as given).
    calibration_fraction : float
        Share of the source rows held out at ``fit``, when the head predicts a distribution, to
        calibrate its spread: after training, one factor per parameter (``spread_scale_``) scales the
        predictive distribution about its mean so that its central intervals at 5-95% cover their
        nominal share of the held-out rows (``sklens.calibration.spread_scales``; sigma scaling,
        as scikit-learn's ``CalibratedClassifierCV`` calibrates probabilities on held-out data). The
        model then trains on the other rows (docs/studies/calibration.md measures the cost). 0: no
        calibration. With fewer than 20 rows to hold out, the fit trains on every row, keeps the
        head's spread and warns (``CalibrationWarning``). ``partial_fit`` trains on every row it is
        given and keeps the last factor.
    **kwargs
        Further skorch parameters (e.g. ``module__hidden=(32,)``, ``module__feature_norm=False``,
        ``optimizer__weight_decay=1e-4``).

    Attributes
    ----------
    settings_ : dict
        The ``'auto'`` settings as resolved for the fitted input (``lr``, ``lr_schedule``, ``head``,
        ``domain_batchnorm``, ``feature_norm``).
    spread_scale_ : numpy.ndarray of shape (k,)
        Each parameter's calibration factor of the predictive spread (1 without calibration).
    """

    #: What ``'auto'`` means for this class, per kind of input.
    auto_settings: dict[str, dict] = AUTO_SETTINGS

    _parameter_constraints: dict = {
        "feature_layer": [str],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "lr_schedule": [StrOptions({*LR_SCHEDULES, "auto"})],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],  # 0: build the network only
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "lambda_da": [Interval(Real, 0, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "domain_batchnorm": ["boolean", StrOptions({"statistics", "affine", "auto"})],
        "predict_domain": [StrOptions(set(DOMAINS))],
        "head": [StrOptions({*HEADS, "auto"})],
        "beta": [Interval(Real, 0, 1, closed="both")],
        "flow_context": [Interval(Integral, 1, None, closed="left")],
        "flow_transforms": [Interval(Integral, 1, None, closed="left")],
        "flow_hidden": [Interval(Integral, 1, None, closed="left")],
        "target_scaling": [StrOptions({"auto", "standard", "none"})],
        "calibration_fraction": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=None,
        *,
        feature_layer: str = "features",
        lr: float | str = "auto",
        lr_schedule: str = "auto",
        max_epochs: int = 30,
        batch_size: int = 32,
        optimizer=torch.optim.Adam,
        criterion=nn.MSELoss,
        train_split=None,
        callbacks=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
        lambda_da: float = 1.0,
        n_members: int = 1,
        domain_batchnorm: bool | str = "auto",
        predict_domain: str = "target",
        head: str = "auto",
        beta: float = 0.5,
        flow_context: int = 32,
        flow_transforms: int = 3,
        flow_hidden: int = 64,
        target_scaling: str = "auto",
        calibration_fraction: float = 0.1,
        **kwargs,
    ) -> None:
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.feature_layer = feature_layer
        self.lr_schedule = lr_schedule
        self.random_state = random_state
        self.lambda_da = lambda_da
        self.n_members = n_members
        self.domain_batchnorm = domain_batchnorm
        self.predict_domain = predict_domain
        self.head = head
        self.beta = beta
        self.flow_context = flow_context
        self.flow_transforms = flow_transforms
        self.flow_hidden = flow_hidden
        self.target_scaling = target_scaling
        self.calibration_fraction = calibration_fraction

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_sklens_version": __version__}

    def __setstate__(self, state: dict) -> None:
        version = state.pop("_sklens_version", "0.x")
        if int(version.split(".")[0]) < 1:
            raise ValueError(
                f"this {type(self).__name__} was pickled by sklens {version}, and sklens {__version__} does "
                "not load models pickled by 0.x releases (their heads and losses were stored otherwise): "
                "fit the model again with this version."
            )
        super().__setstate__(state)

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_", its private bookkeeping included.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    # ----------------------------------------------------------------------------------- building
    def make_adaptation_loss(self, n_features: int) -> nn.Module | None:
        """Return the adaptation loss module, or None for training without adaptation.

        Parameters
        ----------
        n_features : int
            Width of the feature vector the loss compares.

        Returns
        -------
        torch.nn.Module or None
            A module called as ``loss(features_src, features_tgt)``; its ``min_rows`` attribute, if
            any, is the fewest source rows a batch needs for the term to run.
        """
        return None

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        names = (*LOSS_TERMS, "lambda_da", *(f"{term}_spread" for term in LOSS_TERMS))
        scoring = [(name, PassthroughScoring(name=name, on_train=True)) for name in names]
        guard = [("finite_loss", FiniteLossCheck())]
        schedule = LR_SCHEDULES[getattr(self, "settings_", {}).get("lr_schedule", "constant")]
        schedule = [] if schedule is None else [("lr_schedule", schedule(self.max_epochs))]
        return callbacks[:-1] + schedule + scoring + guard + callbacks[-1:]

    def initialize(self):
        if not hasattr(self, "input_shape_"):
            name = type(self).__name__
            raise NotInitializedError(
                f"{name} builds its network, heads and scaling of y for the data it is fitted on, so "
                "it cannot be initialised before seeing them. To restore a fitted model, unpickle it "
                "(pickle or joblib keep its weights, the data's shape and the scaling of y). To load "
                "parameters saved with save_params, first fit a regressor of the same settings on the "
                f"same training data for no epochs, `model.fit(X, y, X_tgt=X_tgt, epochs=0)`, then call "
                "`model.load_params(f_params=..., f_output_head=...)`."
            )
        return super().initialize()

    def initialize_module(self):
        """Build each member's network, adaptation loss and head (in its own random stream for an
        ensemble), stack the members, then apply domain BatchNorm to the stacked network."""
        if isinstance(self.module, nn.Module) and self.n_members > 1:
            raise ValueError(
                f"n_members={self.n_members} builds each member from its own seed, so module must be a "
                "class (or None), not an instance."
            )
        head, options = self.settings_["head"], self._head_options()
        width = HEADS[head].output_width(self.n_outputs_, **options)
        networks, losses, heads, states = [], [], [], []
        for _ in seeded_members(self.member_seeds_, states):
            networks.append(self._build_network(width))
            # The network is still where it was built (skorch moves it to self.device afterwards).
            n_features, n_outputs = probe_widths(networks[-1], self.feature_layer, self.input_shape_)
            if n_outputs != width:
                raise ValueError(
                    f"{type(self).__name__}: the network outputs {n_outputs} values per row, but the {head} "
                    f"head reads {width} for {self.n_outputs_} parameter(s): build the network with that "
                    f"output width, or give another head (head='point' reads {self.n_outputs_}; on images "
                    "head='auto' is the gaussian head)."
                )
            losses.append(self.make_adaptation_loss(n_features))
            heads.append(make_head(head, self.n_outputs_, **options))
        self.member_rng_states_ = states or None
        self.module_ = stack_networks(networks, self.feature_layer, len(self.input_shape_))
        self.adaptation_loss_ = None if losses[0] is None else MemberLosses(losses)
        self.output_head_ = nn.ModuleList(heads)
        # The calibration of the spread is saved with the heads (save_params' f_output_head).
        self.output_head_.register_buffer("spread_scale", torch.ones(self.n_outputs_, dtype=torch.float64))
        if self.domain_batchnorm == "auto" and not has_batchnorm(self.module_):
            self.settings_["domain_batchnorm"] = False  # a network of the user's without BatchNorm
        domain_batchnorm = self.settings_["domain_batchnorm"]
        if domain_batchnorm:  # after stacking: a stacked BatchNorm splits as one layer
            use_domain_batchnorm(self.module_, share_affine=domain_batchnorm != "affine")
        return self

    @property
    def spread_scale_(self) -> np.ndarray:
        """Each parameter's calibration factor of the predictive spread (1 where not calibrated)."""
        return self.output_head_.spread_scale.cpu().numpy()

    @spread_scale_.setter
    def spread_scale_(self, value) -> None:
        self.output_head_.spread_scale.copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))

    def _head_options(self) -> dict:
        """What the heads are built with (each takes its own; see ``sklens.nn.heads.make_head``)."""
        return {
            "criterion": self.initialized_instance(self.criterion, self.get_params_for("criterion")),
            "beta": self.beta,
            "flow_context": self.flow_context,
            "flow_transforms": self.flow_transforms,
            "flow_hidden": self.flow_hidden,
        }

    def _build_network(self, width: int) -> nn.Module:
        if self.module is None:
            options = {"feature_norm": self.settings_["feature_norm"], **self.get_params_for("module")}
            return default_network(self.input_shape_, width, **options)
        return self.initialized_instance(self.module, self.get_params_for("module"))

    def torch_compile(self, module, name: str):
        """``compile=True`` compiles the network (``module_``) only: the heads and the adaptation loss
        are called through methods other than ``forward`` (``loss``, ``sample``, one member's loss),
        which a compiled wrapper would hide."""
        return super().torch_compile(module, name) if name == "module" else module

    def get_params_for_optimizer(self, prefix: str, named_parameters) -> tuple[list, dict]:
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if kwargs.get("lr") == "auto":
            kwargs["lr"] = self.settings_["lr"]
        return args, kwargs

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, X_tgt=None, **fit_params):
        """Fit on labelled source rows and unlabelled target rows.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, n_features)
            Inputs. Rows whose ``y`` is NaN are unlabelled target rows (the packed form).
        y : array-like of shape (n,) or (n, k)
            Labels of the source rows, NaN for target rows.
        X_tgt : array-like or TargetData, optional
            More unlabelled target rows, of the same per-row shape as X.
        **fit_params
            Passed on to skorch's ``fit`` (``epochs=0`` builds the modules without training).

        Returns
        -------
        self
            The fitted estimator.
        """
        self._validate_params()
        X_src, y_src, X_tgt = split_packed(X, y, X_tgt)
        resume = self.warm_start and self.initialized_
        stream = len(self.history) if resume else 0
        with seeded_torch(self.random_state, self.device, stream=stream):
            if not resume:
                self._initialize_for(X_src, y_src, np.asarray(y).ndim)
            train, held_out = self._calibration_split(len(X_src))
            self._train(X_src[train], y_src[train], X_tgt, stream=stream, **fit_params)
        self.spread_scale_ = np.ones(self.n_outputs_)
        if len(held_out):
            self.spread_scale_ = self._spread_scales(X_src[held_out], y_src[held_out])
        return self

    def partial_fit(self, X, y=None, classes=None, X_tgt=None, **fit_params):
        """Train for ``max_epochs`` more epochs; takes the same inputs as ``fit``.

        Successive calls draw independent streams from ``random_state`` (the epochs already trained
        select the stream), so the same sequence of calls gives the same model.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, n_features)
            Inputs; rows whose ``y`` is NaN are target rows.
        y : array-like of shape (n,) or (n, k)
            Labels of the source rows, NaN for target rows.
        classes : None
            Unused; scikit-learn's signature.
        X_tgt : array-like or TargetData, optional
            More unlabelled target rows.
        **fit_params
            Passed on to skorch's ``partial_fit``.

        Returns
        -------
        self
            The estimator, trained further.
        """
        self._validate_params()
        X_src, y_src, X_tgt = split_packed(X, y, X_tgt)
        stream = len(self.history) if self.initialized_ else 0
        with seeded_torch(self.random_state, self.device, stream=stream):
            if not self.initialized_:
                self._initialize_for(X_src, y_src, np.asarray(y).ndim)
            self._train(X_src, y_src, X_tgt, stream=stream, classes=classes, **fit_params)
        return self

    def _initialize_for(self, X_src: np.ndarray, y_src: np.ndarray, y_ndim: int) -> None:
        """Record the shapes the default network is built from, resolve the ``'auto'`` settings for
        them, then build the modules."""
        self.input_shape_ = tuple(X_src.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        auto = self.auto_settings_for(self.input_shape_, len(X_src))
        given = {name: getattr(self, name) for name in AUTO_PARAMETERS}
        self.settings_ = {
            **{name: auto[name] if _is_auto(value) else value for name, value in given.items()},
            # the default network's (a network of the user's has its own, or none)
            "feature_norm": self.get_params_for("module").get("feature_norm", auto["feature_norm"])
            if self.module is None
            else None,
        }
        self.n_outputs_ = y_src.shape[1]
        self.y_ndim_ = y_ndim
        # ``target_scaling='auto'``: standardised when y has several columns or the head predicts a
        # distribution, so that parameters of different units weigh alike; else y as given.
        standard = self.target_scaling == "standard" or (
            self.target_scaling == "auto"
            and (y_src.shape[1] > 1 or HEADS[self.settings_["head"]].has_distribution)
        )
        self.y_mean_, self.y_scale_ = target_scales(y_src, standard)
        # A single model draws from the fit's own stream; member k of an ensemble from random_state + k.
        self.member_seeds_ = (
            member_seeds(check_random_state_seed(self.random_state), self.n_members)
            if self.n_members > 1
            else None
        )
        self.initialize()

    def auto_settings_for(self, input_shape: tuple[int, ...], n_rows: int) -> dict:
        """What the ``'auto'`` settings become for a fit on ``n_rows`` source rows of ``input_shape``.

        Parameters
        ----------
        input_shape : tuple of int
            The shape of one row: (C, H, W) for images, (n_features,) for a table.
        n_rows : int
            The number of labelled source rows given to ``fit``.

        Returns
        -------
        dict
            ``lr``, ``lr_schedule``, ``head``, ``domain_batchnorm`` and ``feature_norm``: the class's
            ``auto_settings`` for the kind of input (``MMDRegressor`` also looks at the fit's length).

        Examples
        --------
        >>> from sklens import DANNRegressor
        >>> DANNRegressor().auto_settings_for((1, 40, 40), 2800)["lr"]
        0.001
        """
        return self.auto_settings[input_kind(input_shape)]

    def _calibration_split(self, n_rows: int) -> tuple[np.ndarray | slice, np.ndarray]:
        """The source rows to train on and those held out to calibrate the spread (none when the head
        has no distribution or ``calibration_fraction`` is 0), drawn from ``random_state``. Without a
        hold-out, every row as a slice: indexing by it is a view, so the inputs are not copied."""
        every, rows = slice(None), np.arange(n_rows)
        n_held_out = round(self.calibration_fraction * n_rows)
        if not (self.output_head_[0].has_distribution and self.calibration_fraction):
            return every, rows[:0]
        if n_held_out < MIN_CALIBRATION_ROWS:
            warnings.warn(
                f"{type(self).__name__}: calibration_fraction={self.calibration_fraction} of {n_rows} "
                f"source rows holds out {n_held_out}, fewer than the {MIN_CALIBRATION_ROWS} a spread is "
                "calibrated on; it trains on every row and keeps the head's spread (spread_scale_ 1). "
                "Give more rows or a larger calibration_fraction, or set it to 0 to silence this.",
                CalibrationWarning,
                stacklevel=3,
            )
            return every, rows[:0]
        held_out = np.random.default_rng(check_random_state_seed(self.random_state)).permutation(n_rows)
        return np.sort(held_out[n_held_out:]), np.sort(held_out[:n_held_out])

    def _spread_scales(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each parameter's calibration factor on held-out source rows (their own BatchNorm
        statistics), from the model's samples as trained."""
        samples, _ = self._samples(X, CALIBRATION_SAMPLES, random_state=0, domain="source")
        return spread_scales(samples, y.astype(np.float64))

    def _train(
        self, X_src: np.ndarray, y_src: np.ndarray, X_tgt: np.ndarray | None, stream: int = 0, **fit_params
    ) -> None:
        """skorch's training loop on validated source rows, drawing target batches from ``X_tgt``.

        ``stream`` is the random stream of this call (the epochs trained before it).
        """
        as_model_input(X_src, self.input_shape_, type(self).__name__, read_only_ok=True)
        domain_batchnorm = self.settings_["domain_batchnorm"]
        if X_tgt is None and (self.adaptation_loss_ is not None or domain_batchnorm):
            stats = (
                ", and its target BatchNorm statistics keep their initial values" if domain_batchnorm else ""
            )
            warnings.warn(
                f"{type(self).__name__} got no target rows (no X_tgt and no row of y that is all NaN), "
                f"so it trains on the source rows alone, without adaptation{stats}.",
                NoTargetDataWarning,
                stacklevel=3,
            )
        self.n_target_rows_ = 0 if X_tgt is None else len(X_tgt)
        self.lambda_da_ = float(self.lambda_da)  # a schedule callback may change it step by step
        y_src = ((y_src - self.y_mean_) / self.y_scale_).astype(np.float32)
        # Tensors on the inputs' memory: the members and the batches share it, nothing is copied.
        X_src, y_src = shared_tensor(X_src), shared_tensor(y_src)
        if stream and self.random_state is not None and self.member_rng_states_ is not None:
            # each member's stream seeded as seeded_torch seeds a single fit's, for a seeded resume
            self.member_rng_states_ = [
                torch.Generator().manual_seed(stream_seed(seed, stream)).get_state()
                for seed in self.member_seeds_
            ]
        seeds = [self._draw_member_seed(k) for k in range(self.n_members)]
        self.target_sampler_ = (
            None if X_tgt is None else [TargetSampler(shared_tensor(X_tgt), s) for s in seeds]
        )
        try:
            super().partial_fit(X_src, y_src, **fit_params)
        finally:
            self.target_sampler_ = None

    def _draw_member_seed(self, k: int) -> int:
        """Member k's target sampler seed, from its stream (a single model's: the fit's)."""
        with member_random_stream(self.member_rng_states_, k):
            return int(torch.randint(0, 2**31 - 1, (1,)))

    def get_iterator(self, dataset, training: bool = False):
        if not (training and self.member_rng_states_ is not None):
            return super().get_iterator(dataset, training=training)
        # An ensemble: the training loader's settings over row indices, each member shuffled by its
        # own stream, the members' rows gathered at once.
        kwargs = self.get_params_for("iterator_train")
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        indices = self.iterator_train(range(len(dataset)), **kwargs)
        if isinstance(dataset, torch.utils.data.Subset):  # the training part of ``train_split``
            dataset, rows = dataset.dataset, torch.as_tensor(dataset.indices)
        else:
            rows = slice(None)
        X, y = (torch.as_tensor(part)[rows] for part in (dataset.X, dataset.y))
        return MemberBatches(indices, X, y, self.member_rng_states_)

    def _with_target_batch(self) -> bool:
        """Whether a training step passes a target batch through the network: for the adaptation
        loss, or for the target statistics of domain-specific BatchNorm (AdaBN, without a loss)."""
        return self.target_sampler_ is not None and (
            self.adaptation_loss_ is not None or bool(self.settings_["domain_batchnorm"])
        )

    def _member_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's inputs and targets with the member axis, (B, K, *row) and (B, K, k), on the device."""
        Xi, yi = (to_tensor(part, device=self.device) for part in unpack_data(batch))
        return with_member_axis(Xi, self.n_members, len(self.input_shape_)), with_member_axis(
            yi, self.n_members, 1
        )

    def train_step_single(self, batch, **fit_params):
        """One step for every member at once: the source batch and a target batch of as many rows
        through the network in one pass (BatchNorm sees both, unless ``domain_batchnorm`` keeps them
        apart), each member's task loss on its source rows, plus ``lambda_da_`` times its adaptation
        loss between its source and target features when the batch has the loss's ``min_rows``. The
        members' sum is minimised, so each member gets its own gradient; the history records each
        term's mean over the members and, for an ensemble, its spread."""
        self._set_training(True)
        Xi, yi = self._member_batch(batch)
        n_src = len(Xi)
        if self._with_target_batch():
            Xt = torch.stack([sampler.draw(n_src) for sampler in self.target_sampler_], dim=1)
            Xi = torch.cat([Xi, Xt.to(self.device)])
        with domain_rows(self.module_, n_src):
            features, outputs = forward_members(self.module_, Xi, self.feature_layer, **fit_params)
        y_pred = outputs[:n_src]
        terms = {"task_loss": self._member_losses(y_pred, yi, training=True)}
        adapts = self.adaptation_loss_ is not None and len(Xi) > n_src
        if adapts and n_src >= self.adaptation_loss_.min_rows:
            terms["adaptation_loss"] = self.adaptation_loss_(features[:n_src], features[n_src:])
        member_losses = terms["task_loss"] + self.lambda_da_ * terms.get("adaptation_loss", 0.0)
        member_losses.sum().backward()
        for name, term in terms.items():  # the first read of a value on the host, after backward
            values = term.detach()
            self.history.record_batch(name, values.mean().item())
            if self.n_members > 1:
                self.history.record_batch(f"{name}_spread", values.std(unbiased=False).item())
        if adapts:
            self.history.record_batch("lambda_da", self.lambda_da_)
        return {"loss": member_losses.mean(), "y_pred": y_pred.squeeze(1)}

    def validation_step(self, batch, **fit_params):
        """The members' mean task loss on a validation batch, with ``predict_domain``'s statistics."""
        self._set_training(False)
        Xi, yi = self._member_batch(batch)
        with torch.no_grad(), domain_rows(self.module_, domain=self.predict_domain):
            _, outputs = forward_members(self.module_, Xi, self.feature_layer, **fit_params)
            loss = self._member_losses(outputs, yi, training=False).mean()
        return {"loss": loss, "y_pred": outputs.squeeze(1)}

    def _member_losses(self, y_pred: torch.Tensor, y_true: torch.Tensor, training: bool) -> torch.Tensor:
        """Each member's task loss, shape (K,), from (B, K, width) outputs and (B, K, k) targets."""
        return torch.stack(
            [
                self.get_loss(y_pred[:, k], y_true[:, k], training=training, member=k)
                for k in range(self.n_members)
            ]
        )

    def get_loss(self, y_pred, y_true, X=None, training: bool = False, member: int = 0):
        """The task loss of member ``member``'s head: ``criterion`` for the point head, the head's own
        likelihood loss otherwise."""
        return self.output_head_[member].loss(y_pred, to_tensor(y_true, device=self.device))


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"
