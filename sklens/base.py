"""The base class of the domain-adaptive regressors: skorch wiring around one plug-in adaptation loss.

A new method is a loss (a torch module ``loss(features_src, features_tgt) -> scalar`` in
[`sklens.nn.losses`][sklens.nn.losses]) and a thin subclass of
[`DomainAdaptiveRegressor`][sklens.base.DomainAdaptiveRegressor] that returns it from
``make_adaptation_loss``. The pieces the base class composes each live in their own module: reading
the features in [`sklens.nn.tap`][sklens.nn.tap], the packed form and its target rows in
[`sklens.domains`][sklens.domains], the target batches in [`sklens.nn.sampling`][sklens.nn.sampling],
input checks in ``sklens._validation``, the finite-loss guard and DANN's schedule in
[`sklens.callbacks`][sklens.callbacks].
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, Options, StrOptions
from skorch import NeuralNetRegressor
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn

from sklens._skorch import (
    AutoDeviceMixin,
    ParameterValidationMixin,
    seeded_torch,
    shared_tensor,
    stream_seed,
)
from sklens._validation import HEADS, as_float_array, as_model_input, check_random_state_seed
from sklens.callbacks import FiniteLossCheck
from sklens.domains import split_packed, target_rows
from sklens.exceptions import NoTargetDataWarning
from sklens.nn.domain_norm import DOMAINS, domain_rows, use_domain_batchnorm
from sklens.nn.ensemble import MemberLosses, stack_networks
from sklens.nn.heads import FlowHead, GaussianHead, gaussian_moments
from sklens.nn.networks import default_network
from sklens.nn.sampling import MemberBatches, TargetSampler, member_random_stream
from sklens.nn.tap import evaluation_mode, feature_dimension, tap_features

__all__ = ["DomainAdaptiveRegressor"]

#: Adam's learning rate on (n_samples, n_features) input when ``lr='auto'``, measured on three tabular
#: problems (docs/performance.md, "Defaults of the tabular path"): within 0.008 of R^2 of the best rate
#: (1e-2) on each, with a third of 1e-2's seed spread on the largest.
TABULAR_LR = 3e-3

#: Samples per row from which a flow head's mean and standard deviation are estimated, drawn with
#: seed ``FLOW_MOMENTS_SEED`` so that ``predict`` is deterministic.
FLOW_MOMENTS_SAMPLES = 1000
FLOW_MOMENTS_SEED = 0
#: Rows per chunk when sampling a head, to bound the memory of (samples, rows, parameters).
_SAMPLE_CHUNK = 256

#: What a model pickled by an older sklens lacks, where the default is not its old behaviour: its y was
#: used as given, and it has no head module (parameters it lacks otherwise get their defaults).
_STATE_OF_OLD_PICKLES = {"target_scaling": "none", "output_head_": None}


class DomainAdaptiveRegressor(ParameterValidationMixin, AutoDeviceMixin, NeuralNetRegressor):
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
        Adam's learning rate. ``'auto'``: the paper's rate for images (``image_lr`` of the class: 1e-5
        without adaptation, 6e-5 with it) and 3e-3 for (n_samples, n_features) input.
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
    domain_batchnorm : bool or {'statistics', 'affine'}
        Separate BatchNorm statistics for source and target rows (True or ``'statistics'``: shared
        affine parameters, AdaBN; ``'affine'``: per-domain affine parameters too, DSBN), made by
        [`use_domain_batchnorm`][sklens.nn.domain_norm.use_domain_batchnorm] on the built network
        (after stacking, for an ensemble). Without an adaptation loss the target batch still passes
        through the network, to estimate the target statistics; a fit without target rows warns that
        they keep their initial values. False: one BatchNorm over both domains.
    predict_domain : {'target', 'source'}
        Whose BatchNorm statistics prediction, scoring, ``transform_features`` and the validation
        loss use with ``domain_batchnorm``.
    head : {'point', 'gaussian', 'flow'}
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
    **kwargs
        Further skorch parameters (e.g. ``module__hidden=(32,)``, ``optimizer__weight_decay=1e-4``).
    """

    #: Learning rate of ``lr='auto'`` on images: the paper's.
    image_lr: float = 6e-5

    _parameter_constraints: dict = {
        "feature_layer": [str],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],  # 0: build the network only
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "lambda_da": [Interval(Real, 0, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "domain_batchnorm": ["boolean", StrOptions({"statistics", "affine"})],
        "predict_domain": [StrOptions(set(DOMAINS))],
        "head": [StrOptions(set(HEADS))],
        "beta": [Interval(Real, 0, 1, closed="both")],
        "flow_context": [Interval(Integral, 1, None, closed="left")],
        "flow_transforms": [Interval(Integral, 1, None, closed="left")],
        "flow_hidden": [Interval(Integral, 1, None, closed="left")],
        "target_scaling": [StrOptions({"auto", "standard", "none"})],
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
        domain_batchnorm: bool | str = False,
        predict_domain: str = "target",
        head: str = "point",
        beta: float = 0.5,
        flow_context: int = 32,
        flow_transforms: int = 3,
        flow_hidden: int = 64,
        target_scaling: str = "auto",
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

    def __setstate__(self, state: dict) -> None:
        # A model pickled by sklens 0.2.0 (the paper reproduction's stored models) lacks the parameters
        # added since: it loads as the point model on y as given that it was, the others at default.
        missing = {**type(self)().get_params(deep=False), **_STATE_OF_OLD_PICKLES}
        for name, value in missing.items():
            state.setdefault(name, value)
        if state.get("initialized_") and "y_mean_" not in state:
            state["y_mean_"], state["y_scale_"] = np.zeros(state["n_outputs_"]), np.ones(state["n_outputs_"])
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
        scoring = [
            (name, PassthroughScoring(name=name, on_train=True))
            for name in (
                "task_loss",
                "adaptation_loss",
                "lambda_da",
                "task_loss_spread",
                "adaptation_loss_spread",
            )
        ]
        guard = [("finite_loss", FiniteLossCheck())]
        return callbacks[:-1] + scoring + guard + callbacks[-1:]

    def initialize_module(self):
        if self.n_members > 1:
            self._initialize_members()
        else:
            self.module_ = self._build_network()
            # The network is still where it was built (skorch moves it to self.device afterwards).
            n_features = feature_dimension(self.module_, self.feature_layer, self.input_shape_)
            self.adaptation_loss_ = self.make_adaptation_loss(n_features)
            head = self._make_head()
            self.output_head_ = None if head is None else nn.ModuleList([head])
        if self.domain_batchnorm:  # after stacking: a stacked BatchNorm splits as one layer
            use_domain_batchnorm(self.module_, share_affine=self.domain_batchnorm != "affine")
        return self

    def _build_network(self) -> nn.Module:
        if self.module is None:
            return default_network(self.input_shape_, self._output_width(), **self.get_params_for("module"))
        return self.initialized_instance(self.module, self.get_params_for("module"))

    def _output_width(self) -> int:
        """The network's output width the head reads."""
        if self.head == "gaussian":
            return GaussianHead.output_width(self.n_outputs_)
        return self.flow_context if self.head == "flow" else self.n_outputs_

    def _make_head(self) -> nn.Module | None:
        """The head's module (one per member), or None for the point head, which uses ``criterion``."""
        if self.head == "gaussian":
            return GaussianHead(self.beta)
        if self.head == "flow":
            return FlowHead(self.n_outputs_, self.flow_context, self.flow_transforms, self.flow_hidden)
        return None

    def _initialize_members(self) -> None:
        """Build each member as its own fit would, from its own seed, then stack them."""
        if isinstance(self.module, nn.Module):
            raise ValueError(
                f"n_members={self.n_members} builds each member from its own seed, so module must be a "
                "class (or None), not an instance."
            )
        networks, losses, heads, states = [], [], [], []
        with torch.random.fork_rng(devices=[]):
            for seed in self.member_seeds_:
                torch.random.default_generator.manual_seed(seed)
                networks.append(self._build_network())
                n_features = feature_dimension(networks[-1], self.feature_layer, self.input_shape_)
                losses.append(self.make_adaptation_loss(n_features))
                heads.append(self._make_head())
                states.append(torch.get_rng_state())
        self.module_ = stack_networks(networks, self.feature_layer, len(self.input_shape_))
        self.adaptation_loss_ = None if losses[0] is None else MemberLosses(losses)
        self.output_head_ = None if heads[0] is None else nn.ModuleList(heads)
        self.member_rng_states_ = states

    def get_params_for_optimizer(self, prefix: str, named_parameters) -> tuple[list, dict]:
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if kwargs.get("lr") == "auto":
            kwargs["lr"] = self.image_lr if len(self.input_shape_) == 3 else TABULAR_LR
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
            Passed on to skorch's ``fit``.

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
            self._train(X_src, y_src, X_tgt, stream=stream, **fit_params)
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
        """Record the shapes the default network is built from, then build the modules."""
        self.input_shape_ = tuple(X_src.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.n_outputs_ = y_src.shape[1]
        self.y_ndim_ = y_ndim
        self.y_mean_, self.y_scale_ = self._target_scales(y_src)
        self.member_seeds_ = self._member_seeds() if self.n_members > 1 else None
        self.initialize()

    def _target_scales(self, y_src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each column's mean and scale for ``target_scaling`` (0 and 1 where y is used as given)."""
        k = y_src.shape[1]
        standard = self.target_scaling == "standard" or (
            self.target_scaling == "auto" and (k > 1 or self.head != "point")
        )
        if not standard:
            return np.zeros(k), np.ones(k)
        y = y_src.astype(np.float64)
        scale = y.std(axis=0)
        return y.mean(axis=0), np.where(scale > 0, scale, 1.0)  # a constant column is only centred

    def _member_seeds(self) -> list[int]:
        """``random_state + k`` for member k (a seed drawn from torch's generator when None)."""
        seed = check_random_state_seed(self.random_state)
        if seed is None:
            seed = int(torch.randint(0, 2**31 - self.n_members, (1,)))
        return [seed + k for k in range(self.n_members)]

    def _train(
        self, X_src: np.ndarray, y_src: np.ndarray, X_tgt: np.ndarray | None, stream: int = 0, **fit_params
    ) -> None:
        """skorch's training loop on validated source rows, drawing target batches from ``X_tgt``.

        ``stream`` is the random stream of this call (the epochs trained before it).
        """
        as_model_input(X_src, self.input_shape_, type(self).__name__, read_only_ok=True)
        if X_tgt is None and (self.adaptation_loss_ is not None or self.domain_batchnorm):
            stats = (
                ", and its target BatchNorm statistics keep their initial values"
                if self.domain_batchnorm
                else ""
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
        X_tgt = None if X_tgt is None else shared_tensor(X_tgt)
        if self.n_members > 1:
            self._start_member_streams(stream)
            seeds = [self._draw_member_seed(k) for k in range(self.n_members)]
            self.target_sampler_ = None if X_tgt is None else [TargetSampler(X_tgt, s) for s in seeds]
        else:
            seed = _sampler_seed()
            self.target_sampler_ = None if X_tgt is None else TargetSampler(X_tgt, seed)
        try:
            super().partial_fit(X_src, y_src, **fit_params)
        finally:
            self.target_sampler_ = None

    def _start_member_streams(self, stream: int) -> None:
        """Seed each member's stream as ``seeded_torch`` seeds a single fit's, for a seeded resume."""
        if stream and self.random_state is not None:
            self.member_rng_states_ = [
                torch.Generator().manual_seed(stream_seed(seed, stream)).get_state()
                for seed in self.member_seeds_
            ]

    def _draw_member_seed(self, k: int) -> int:
        with member_random_stream(self.member_rng_states_, k):
            return _sampler_seed()

    def get_iterator(self, dataset, training: bool = False):
        if not (training and self.n_members > 1):
            return super().get_iterator(dataset, training=training)
        # The training loader's settings over row indices: the members' rows are gathered at once.
        kwargs = self.get_params_for("iterator_train")
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        indices = self.iterator_train(range(len(dataset)), **kwargs)
        X, y = (torch.as_tensor(part) for part in (dataset.X, dataset.y))
        return MemberBatches(indices, X, y, self.member_rng_states_)

    def _with_target_batch(self) -> bool:
        """Whether a training step passes a target batch through the network: for the adaptation
        loss, or for the target statistics of domain-specific BatchNorm (AdaBN, without a loss)."""
        return self.target_sampler_ is not None and (
            self.adaptation_loss_ is not None or bool(self.domain_batchnorm)
        )

    def train_step_single(self, batch, **fit_params):
        if self.n_members > 1:
            return self._member_step(batch)
        Xi, yi = unpack_data(batch)
        if not self._with_target_batch():
            with domain_rows(self.module_, domain="source"):
                step = super().train_step_single(batch, **fit_params)
            self.history.record_batch("task_loss", step["loss"].item())
            return step
        self._set_training(True)
        Xi = to_tensor(Xi, device=self.device)
        n_src = len(Xi)
        Xt = self.target_sampler_.draw(n_src).to(self.device)
        with tap_features(self.module_, self.feature_layer) as tapped, domain_rows(self.module_, n_src):
            y_pred = self.infer(torch.cat([Xi, Xt]), **fit_params)[:n_src]
        terms = {"task_loss": self.get_loss(y_pred, yi, X=Xi, training=True)}
        if self.adaptation_loss_ is not None and n_src >= getattr(self.adaptation_loss_, "min_rows", 1):
            features = tapped[0]
            terms["adaptation_loss"] = self.adaptation_loss_(features[:n_src], features[n_src:])
        loss = terms["task_loss"] + self.lambda_da_ * terms.get("adaptation_loss", 0.0)
        loss.backward()
        for name, term in terms.items():  # the first read of a value on the host, after backward
            self.history.record_batch(name, term.item())
        if self.adaptation_loss_ is not None:
            self.history.record_batch("lambda_da", self.lambda_da_)
        return {"loss": loss, "y_pred": y_pred}

    def _member_step(self, batch) -> dict:
        """The training step of an ensemble: the members' batches side by side, one pass, each
        member's loss on its own rows; their sum is minimised, so each member gets its own gradient."""
        Xi, yi = (to_tensor(part, device=self.device) for part in unpack_data(batch))
        self._set_training(True)
        n_src = len(Xi)
        with_target = self._with_target_batch()
        adapts = with_target and self.adaptation_loss_ is not None
        if with_target:
            Xt = torch.stack([sampler.draw(n_src) for sampler in self.target_sampler_], dim=1)
            Xi = torch.cat([Xi, Xt.to(self.device)])
        with domain_rows(self.module_, n_src):
            features, outputs = self.module_.forward_features(Xi)
        y_pred = outputs[:n_src]
        terms = {
            "task_loss": torch.stack(
                [
                    self.get_loss(y_pred[:, k], yi[:, k], training=True, member=k)
                    for k in range(self.n_members)
                ]
            )
        }
        if adapts and n_src >= self.adaptation_loss_.min_rows:
            terms["adaptation_loss"] = self.adaptation_loss_(features[:n_src], features[n_src:])
        member_losses = terms["task_loss"] + self.lambda_da_ * terms.get("adaptation_loss", 0.0)
        member_losses.sum().backward()
        for name, term in terms.items():
            values = term.detach()
            self.history.record_batch(name, values.mean().item())
            self.history.record_batch(f"{name}_spread", values.std(unbiased=False).item())
        if adapts:
            self.history.record_batch("lambda_da", self.lambda_da_)
        return {"loss": member_losses.mean(), "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        with domain_rows(self.module_, domain=self.predict_domain):  # the statistics predict uses
            return super().validation_step(batch, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training: bool = False, member: int = 0):
        """The task loss of the head: ``criterion`` for the point head, else the head's own loss.

        ``member`` selects an ensemble member's head (each member of a flow ensemble has its flow).
        """
        if self.output_head_ is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        return self.output_head_[member].loss(y_pred, to_tensor(y_true, device=self.device))

    # ----------------------------------------------------------------------------------- predicting
    @available_if(lambda self: False)
    def predict_proba(self, X):
        """Not available: a regressor has no class probabilities (skorch's raw output is ``predict``)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _as_model_input(self, X) -> tuple[np.ndarray, bool]:
        self.check_is_fitted()
        return as_model_input(X, self.input_shape_, type(self).__name__)

    def predict(self, X, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the parameters of ``X``: the predictive mean (the members' mean for an ensemble).

        The point head's prediction, the gaussian head's mean, or the flow's posterior mean, estimated
        from ``FLOW_MOMENTS_SAMPLES`` (1000) samples per row drawn with a fixed seed (so ``predict``
        is deterministic); in the units of the ``y`` the model was fitted on.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W), (n, n_features), or one image (C, H, W)/(H, W)
            Inputs of the fitted shape. A 3-D array is one image for a multi-band model and a batch of
            one-band images for a one-band model.
        return_std : bool
            Also return the predictive standard deviation: by the law of total variance, the square
            root of the members' mean variance (the head's own: 0 for the point head, the gaussian
            head's variance, the flow samples' variance) plus the variance of the members' means.
            A point model of one member therefore returns 0.

        Returns
        -------
        y_pred : numpy.ndarray
            Shape (n,) when the model was fitted on a 1-D ``y``, else (n, k); for one image, the batch
            axis is dropped: a float, or shape (k,).
        y_std : numpy.ndarray
            With ``return_std``: the standard deviation, of the same shape.
        """
        means, variances = self._member_moments(X, with_variance=return_std)
        mean = means.mean(axis=0)
        return (mean, np.sqrt(variances.mean(axis=0) + means.var(axis=0))) if return_std else mean

    def predict_members(self, X) -> np.ndarray:
        """Every member's predictions of ``X`` (each member's predictive mean, as ``predict``'s).

        Parameters
        ----------
        X : array-like
            Inputs as for ``predict``.

        Returns
        -------
        numpy.ndarray
            Shape (n_members, n) when the model was fitted on a 1-D ``y``, else (n_members, n, k); for
            one image, (n_members,) or (n_members, k).
        """
        return self._member_moments(X, with_variance=False)[0]

    def sample_posterior(self, X, n_samples: int, random_state=None) -> np.ndarray:
        """Draw parameters from the predictive distribution of each row of ``X``.

        For an ensemble, each sample comes from a member chosen uniformly at random (the members'
        mixture). Needs ``head='gaussian'`` or ``head='flow'``.

        Parameters
        ----------
        X : array-like
            Inputs as for ``predict``.
        n_samples : int
            Samples per row (at least 1).
        random_state : int, numpy RandomState or None
            Seeds the draws; None uses torch's global random stream.

        Returns
        -------
        numpy.ndarray
            Shape (n_samples, n, k), or (n_samples, n) when the model was fitted on a 1-D ``y``; for
            one image, (n_samples, k) or (n_samples,). In the units of ``y``.

        Raises
        ------
        ValueError
            If ``n_samples`` is not a positive integer or the model has a point head.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        outputs, single = self._head_outputs(X, "sample_posterior")
        with torch.no_grad(), seeded_torch(random_state, self.device):
            samples = self._head_samples(outputs, n_samples)  # (K, n_samples, n, k)
            member = torch.randint(self.n_members, samples.shape[1:3])
        samples = samples.gather(0, member[None, ..., None].expand(1, *samples.shape[1:]))[0]
        return self._in_y_units(samples.numpy().astype(np.float64), single, row_axis=1)

    def log_likelihood(self, X, y) -> np.ndarray:
        """Each row's log density of ``y`` under the predictive distribution of ``X``.

        The density is over the parameters in the units of the ``y`` the model was fitted on (the
        scaling of ``target_scaling`` is accounted for): for the gaussian head, the sum over
        parameters of the Gaussian log densities; for the flow, the flow's; for an ensemble, the
        log of the members' mean density. Needs ``head='gaussian'`` or ``head='flow'``.

        Parameters
        ----------
        X : array-like
            Inputs as for ``predict``.
        y : array-like of shape (n,) or (n, k)
            True values, without NaN.

        Returns
        -------
        numpy.ndarray of shape (n,)
            The log densities (natural log), in nats.
        """
        outputs, single = self._head_outputs(X, "log_likelihood")
        y = as_float_array(y, "y").astype(np.float64).reshape(outputs.shape[1], -1)
        if y.shape[1] != self.n_outputs_ or not np.isfinite(y).all():
            raise ValueError(
                f"y must hold {outputs.shape[1]} finite rows of {self.n_outputs_} parameters; "
                f"got shape {y.shape} with {int((~np.isfinite(y)).sum())} non-finite values."
            )
        z = to_tensor(((y - self.y_mean_) / self.y_scale_).astype(np.float32), self.device)
        with torch.no_grad():
            log_p = torch.stack(
                [
                    head.log_prob(out.to(self.device), z).cpu()
                    for head, out in zip(self.output_head_, outputs, strict=True)
                ]
            )
        mixture = torch.logsumexp(log_p.double(), dim=0) - np.log(self.n_members)
        return mixture.numpy() - np.log(self.y_scale_).sum()

    def _network_outputs(self, X) -> tuple[torch.Tensor, bool]:
        """The network's outputs for ``X`` on the CPU, (n_members, n, width), and whether X was one image."""
        X, single = self._as_model_input(X)
        # skorch's DataLoader draws a seed from torch's global generator; keep the caller's stream.
        with torch.random.fork_rng(devices=[]), domain_rows(self.module_, domain=self.predict_domain):
            outputs = self.forward(X, training=False, device="cpu")
        return (outputs[None] if self.n_members == 1 else outputs.transpose(0, 1)), single

    def _head_outputs(self, X, method: str) -> tuple[torch.Tensor, bool]:
        """``_network_outputs`` for a method that needs a distribution, refusing a point head."""
        self.check_is_fitted()
        if self.output_head_ is None:
            raise ValueError(
                f"{method} needs a predictive distribution: fit with head='gaussian' or head='flow' "
                f"(this {type(self).__name__} has head='point')."
            )
        return self._network_outputs(X)

    def _head_samples(self, outputs: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Each member's samples for its outputs, (n_members, n_samples, n, k) on the CPU, scaled units."""
        return torch.stack(
            [
                torch.cat(
                    [
                        head.sample(out[i : i + _SAMPLE_CHUNK].to(self.device), n_samples).cpu()
                        for i in range(0, len(out), _SAMPLE_CHUNK)
                    ],
                    dim=1,
                )
                for head, out in zip(self.output_head_, outputs, strict=True)
            ]
        )

    def _member_moments(self, X, with_variance: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Each member's predictive mean and variance in the units of y, shaped as ``predict_members``."""
        outputs, single = self._network_outputs(X)
        if self.output_head_ is None:
            means = outputs.numpy().astype(np.float64)
            variances = np.zeros_like(means)
        elif self.head == "gaussian":
            means, variances = (part.numpy().astype(np.float64) for part in gaussian_moments(outputs))
        else:
            means, variances = self._flow_moments(outputs)
        means = self._in_y_units(means, single, row_axis=1)
        if not with_variance:
            return means, None
        return means, self._in_y_units(variances, single, row_axis=1, variance=True)

    def _flow_moments(self, outputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Each member's flow mean and variance from seeded samples, (n_members, n, k), scaled units."""
        means, variances = [], []
        with torch.no_grad(), seeded_torch(FLOW_MOMENTS_SEED, self.device):
            for i in range(0, outputs.shape[1], _SAMPLE_CHUNK):
                samples = self._head_samples(outputs[:, i : i + _SAMPLE_CHUNK], FLOW_MOMENTS_SAMPLES).double()
                means.append(samples.mean(dim=1))
                variances.append(samples.var(dim=1, unbiased=False))
        return torch.cat(means, dim=1).numpy(), torch.cat(variances, dim=1).numpy()

    def _in_y_units(
        self, values: np.ndarray, single: bool, row_axis: int, variance: bool = False
    ) -> np.ndarray:
        """Undo the scaling of y on (..., n, k) ``values``; drop k for a 1-D y and n for one image."""
        values = values * self.y_scale_**2 if variance else values * self.y_scale_ + self.y_mean_
        if self.y_ndim_ == 1:
            values = values[..., 0]
        return values.take(0, axis=row_axis) if single else values

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 over every row whose ``y`` is not NaN (target rows of the packed form are ignored).

        For several outputs, the R^2 of each output averaged with equal weights (scikit-learn's
        ``multioutput='uniform_average'``).

        Parameters
        ----------
        X : array-like
            Inputs.
        y : array-like of shape (n,) or (n, k)
            True values; rows that are all NaN are ignored.
        sample_weight : array-like of shape (n,), optional
            Weights of the rows.

        Returns
        -------
        float
            The R^2.
        """
        y = np.asarray(y, dtype=np.float64)
        labelled = ~target_rows(y)
        if not labelled.any():
            raise ValueError("score needs labelled rows; every y is NaN.")
        X = np.asarray(X)[labelled]
        weights = None if sample_weight is None else np.asarray(sample_weight)[labelled]
        y_pred = self.predict(X).reshape(y[labelled].shape)
        return float(r2_score(y[labelled], y_pred, sample_weight=weights))

    def transform_features(self, X) -> np.ndarray:
        """Return the features the adaptation aligns (the output of ``feature_layer``) for ``X``.

        Parameters
        ----------
        X : array-like
            Inputs as for ``predict``.

        Returns
        -------
        numpy.ndarray of shape (n, n_features), or (n_members, n, n_features) for an ensemble
            The features, computed in evaluation mode; the network's mode is left as it was.
        """
        X, _ = self._as_model_input(X)
        step = max(self.batch_size, 256)
        with (
            evaluation_mode(self.module_),
            torch.no_grad(),
            domain_rows(self.module_, domain=self.predict_domain),
        ):
            parts = [self._features(to_tensor(X[i : i + step], self.device)) for i in range(0, len(X), step)]
        features = np.concatenate(parts)
        return features if self.n_members == 1 else features.transpose(1, 0, 2)

    def _features(self, x: torch.Tensor) -> np.ndarray:
        if self.n_members > 1:
            return self.module_.forward_features(x)[0].cpu().numpy()
        with tap_features(self.module_, self.feature_layer) as tapped:
            self.module_(x)
        return tapped[0].cpu().numpy()


def _sampler_seed() -> int:
    """The target sampler's seed, drawn from torch's current CPU stream (a fit's, or a member's)."""
    return int(torch.randint(0, 2**31 - 1, (1,)))
