"""Domain-adaptive regressors: scikit-learn estimators built on skorch.

``CNNRegressor`` trains on labelled source rows only; ``DANNRegressor``, ``MMDRegressor`` and
``CORALRegressor`` add an adaptation loss between the features of a source batch and a target batch at
every step. All four share one training loop (``train_step_single``); a method is its loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils._available_if import available_if
from skorch import NeuralNetRegressor
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch import nn

from sklens._skorch import AutoDeviceMixin, seeded_torch
from sklens._validation import as_float_array, check_images
from sklens.callbacks import ReversalSchedule
from sklens.domains import TargetSampler, split_packed
from sklens.nn.losses import CORALLoss, DomainAdversarialLoss, MMDLoss
from sklens.nn.networks import DomainClassifier, default_network

__all__ = ["CNNRegressor", "DANNRegressor", "MMDRegressor", "CORALRegressor"]


class _DomainAdaptiveRegressor(AutoDeviceMixin, NeuralNetRegressor):
    """Shared machinery of the sklens regressors; subclasses only say which adaptation loss to use.

    Subclasses override :meth:`make_adaptation_loss`. Source and target batches of equal size go
    through the network in one forward pass over their concatenation, so BatchNorm's running statistics
    come from both domains alike.
    """

    def __init__(
        self,
        module=None,
        *,
        feature_layer: str = "features",
        lr: float = 1e-5,
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

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_", its private bookkeeping included.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    # ----------------------------------------------------------------------------------- building
    def make_adaptation_loss(self, n_features: int) -> nn.Module | None:
        """Return the adaptation loss module, or None for training without adaptation."""
        return None

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        scoring = [
            (name, PassthroughScoring(name=name, on_train=True))
            for name in ("task_loss", "adaptation_loss", "lambda")
        ]
        return callbacks[:-1] + scoring + callbacks[-1:]

    def initialize_module(self):
        if self.module is None:
            self.module_ = default_network(
                self.input_shape_, self.n_outputs_, **self.get_params_for("module")
            )
        else:
            super().initialize_module()
        n_features = self._feature_dimension()
        self.adaptation_loss_ = self.make_adaptation_loss(n_features)
        return self

    def _feature_dimension(self) -> int:
        was_training = self.module_.training
        self.module_.eval()
        probe = torch.zeros(2, *self.input_shape_, device=self.device)
        with torch.no_grad(), self._tapped_features() as tapped:
            self.module_(probe)
        self.module_.train(was_training)
        return tapped[0].shape[1]

    @contextlib.contextmanager
    def _tapped_features(self) -> Iterator[list]:
        """Record, while active, the output of the sub-module named ``feature_layer``, flattened."""
        try:
            layer = self.module_.get_submodule(self.feature_layer)
        except AttributeError as exc:
            names = [name for name, _ in self.module_.named_modules() if name]
            raise ValueError(
                f"feature_layer={self.feature_layer!r} is not a sub-module of the network; "
                f"its sub-modules are {names[:12]}{' ...' if len(names) > 12 else ''}."
            ) from exc
        tapped: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda m, i, out: tapped.append(out.flatten(1)))
        try:
            yield tapped
        finally:
            handle.remove()

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, X_tgt=None, **fit_params):
        """Fit on labelled source rows and unlabelled target rows.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W) or (n, n_features)
            Inputs. Rows whose ``y`` is NaN are unlabelled target rows (the packed form).
        y : array-like of shape (n,) or (n, k)
            Labels of the source rows, NaN for target rows.
        X_tgt : array-like or :class:`sklens.TargetData`, optional
            More unlabelled target rows, of the same per-row shape as X.
        **fit_params
            Passed on to skorch's ``fit``.

        Returns
        -------
        self
        """
        X_src, y_src, X_tgt = split_packed(X, y, X_tgt)
        with seeded_torch(self.random_state):
            if not self.warm_start or not self.initialized_:
                self._initialize_for(X_src, y_src, np.asarray(y).ndim)
            self._train(X_src, y_src, X_tgt, **fit_params)
        return self

    def partial_fit(self, X, y=None, classes=None, X_tgt=None, **fit_params):
        """Train for ``max_epochs`` more epochs; takes the same inputs as :meth:`fit`."""
        X_src, y_src, X_tgt = split_packed(X, y, X_tgt)
        if not self.initialized_:
            self._initialize_for(X_src, y_src, np.asarray(y).ndim)
        self._train(X_src, y_src, X_tgt, classes=classes, **fit_params)
        return self

    def _initialize_for(self, X_src: np.ndarray, y_src: np.ndarray, y_ndim: int) -> None:
        """Record the shapes the default network is built from, then build the modules."""
        self.input_shape_ = X_src.shape[1:]
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.n_outputs_ = y_src.shape[1]
        self.y_ndim_ = y_ndim
        self.initialize()

    def _train(self, X_src: np.ndarray, y_src: np.ndarray, X_tgt: np.ndarray | None, **fit_params) -> None:
        """skorch's training loop on validated source rows, drawing target batches from ``X_tgt``."""
        self._check_input_shape(X_src, "X")
        self.n_target_rows_ = 0 if X_tgt is None else len(X_tgt)
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        self.target_sampler_ = None if X_tgt is None else TargetSampler(X_tgt, seed)
        try:
            super().partial_fit(X_src, y_src, **fit_params)
        finally:
            self.target_sampler_ = None

    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        if self.adaptation_loss_ is None or self.target_sampler_ is None:
            step = super().train_step_single(batch, **fit_params)
            self.history.record_batch("task_loss", step["loss"].item())
            return step
        self._set_training(True)
        Xi = to_tensor(Xi, device=self.device)
        n_src = len(Xi)
        Xt = self.target_sampler_.draw(n_src).to(self.device)
        with self._tapped_features() as tapped:
            y_pred = self.infer(torch.cat([Xi, Xt]), **fit_params)[:n_src]
        features = tapped[0]
        task_loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        adaptation_loss = self.adaptation_loss_(features[:n_src], features[n_src:])
        loss = task_loss + self.lambda_da * adaptation_loss
        loss.backward()
        self.history.record_batch("task_loss", task_loss.item())
        self.history.record_batch("adaptation_loss", adaptation_loss.item())
        if not isinstance(self.adaptation_loss_, DomainAdversarialLoss):
            self.history.record_batch("lambda", float(self.lambda_da))
        return {"loss": loss, "y_pred": y_pred}

    # ----------------------------------------------------------------------------------- predicting
    @available_if(lambda self: False)
    def predict_proba(self, X):
        """Not available: a regressor has no class probabilities (skorch's raw output is ``predict``)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _check_input_shape(self, X: np.ndarray, name: str) -> None:
        if X.ndim == 2 and len(self.input_shape_) == 1 and X.shape[1] != self.input_shape_[0]:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.input_shape_[0]} features as input."
            )
        if X.shape[1:] != tuple(self.input_shape_):
            raise ValueError(
                f"{name} rows have shape {X.shape[1:]}, but the model was fitted on rows of shape "
                f"{tuple(self.input_shape_)} (channels and image size must match)."
            )

    def _as_model_input(self, X) -> np.ndarray:
        self.check_is_fitted()
        arr = as_float_array(X, "X")
        is_image_model = len(self.input_shape_) == 3
        is_single = is_image_model and (
            arr.shape == tuple(self.input_shape_)
            or (self.input_shape_[0] == 1 and arr.shape == tuple(self.input_shape_[1:]))
        )
        if is_single:
            arr = arr.reshape(1, *self.input_shape_)
        arr = check_images(arr, "X", allow_tabular=True)
        self._check_input_shape(arr, "X")
        return arr

    def predict(self, X) -> np.ndarray:
        """Predict the targets of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W), (n, n_features), or one image (C, H, W)/(H, W)

        Returns
        -------
        numpy.ndarray
            Shape (n,) when the model was fitted on a 1-D ``y`` (one prediction for one image),
            else (n, k).
        """
        X = self._as_model_input(X)
        # skorch's DataLoader draws a seed from torch's global generator; keep the caller's stream.
        with torch.random.fork_rng(devices=[]):
            y_pred = self.forward(X, training=False, device="cpu").numpy().astype(np.float64)
        return y_pred.ravel() if self.y_ndim_ == 1 else y_pred

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 pooled over every row whose ``y`` is not NaN (target rows of the packed form are ignored).

        Parameters
        ----------
        X : array-like
            Inputs.
        y : array-like of shape (n,) or (n, k)
            True values; NaN rows are ignored.
        sample_weight : array-like of shape (n,), optional

        Returns
        -------
        float
        """
        y = np.asarray(y, dtype=np.float64)
        labelled = ~np.isnan(y.reshape(len(y), -1)).all(axis=1)
        if not labelled.any():
            raise ValueError("score needs labelled rows; every y is NaN.")
        X = np.asarray(X)[labelled]
        weights = None if sample_weight is None else np.asarray(sample_weight)[labelled]
        y_pred = self.predict(X).reshape(y[labelled].shape)
        return float(r2_score(y[labelled], y_pred, sample_weight=weights))

    def transform_features(self, X) -> np.ndarray:
        """Return the features the adaptation aligns (the output of ``feature_layer``) for ``X``."""
        X = self._as_model_input(X)
        self.module_.eval()
        step = max(self.batch_size, 256)
        with torch.no_grad(), self._tapped_features() as tapped:
            for start in range(0, len(X), step):
                self.module_(to_tensor(X[start : start + step], self.device))
        return np.concatenate([t.cpu().numpy() for t in tapped])


class CNNRegressor(_DomainAdaptiveRegressor):
    """Regression without domain adaptation: trains on labelled source rows only.

    Target rows (NaN ``y`` or ``X_tgt``) are accepted so every sklens regressor takes the same inputs,
    and ignored in training; ``n_target_rows_`` records how many there were.

    Parameters
    ----------
    module : torch.nn.Module class or instance, optional
        The network. By default the CNN of Swierc et al. (2023, Table 2) for images and an MLP for
        (n_samples, n_features) input, sized from the data at ``fit``.
    feature_layer : str
        Name of the sub-module whose output is the feature vector (``'features'`` for sklens networks).
    lr : float
        Adam learning rate; the paper's 1e-5 by default.
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
        Any other parameter of
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


class MMDRegressor(_DomainAdaptiveRegressor):
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
    lr : float
        The paper's 6e-5 by default.
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

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 1.4,
        kernel_num: int = 5,
        kernel_mul: float = 2.0,
        mmd_estimator: str = "biased",
        lr: float = 6e-5,
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)
        self.kernel_num = kernel_num
        self.kernel_mul = kernel_mul
        self.mmd_estimator = mmd_estimator

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return MMDLoss(self.kernel_mul, self.kernel_num, self.mmd_estimator)


class DANNRegressor(_DomainAdaptiveRegressor):
    """Domain-adversarial regression (Ganin et al. 2016) as in Swierc et al. (2023).

    A domain classifier (the task head's two linear layers repeated, softmax + NLL) sits behind a
    gradient reversal layer on the features. The reversal coefficient follows
    ``2 / (1 + exp(-gamma p)) - 1``, ``p`` being the fraction of all optimisation steps done; the loss
    is MSE + ``lambda_da`` * domain cross-entropy.

    Parameters
    ----------
    lambda_da : float
        Weight of the domain loss (1).
    gamma : float
        Steepness of the reversal schedule (10).
    domain_hidden : int
        Hidden units of the domain classifier (128, as the task head).
    lr : float
        The paper's 6e-5 by default.
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
    >>> list(model.history[:, "lambda"]) == sorted(model.history[:, "lambda"])
    True
    """

    def __init__(
        self,
        module=None,
        *,
        lambda_da: float = 1.0,
        gamma: float = 10.0,
        domain_hidden: int = 128,
        lr: float = 6e-5,
        **kwargs,
    ) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)
        self.gamma = gamma
        self.domain_hidden = domain_hidden

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return DomainAdversarialLoss(DomainClassifier(n_features, self.domain_hidden))

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        return callbacks[:-1] + [("reversal_schedule", ReversalSchedule(self.gamma))] + callbacks[-1:]


class CORALRegressor(_DomainAdaptiveRegressor):
    """Regression with Deep CORAL: align the covariances of source and target features.

    Not in Swierc et al. (2023); it shows that a new method is a new loss
    ([`sklens.nn.losses.CORALLoss`][sklens.nn.losses.CORALLoss]).

    Parameters
    ----------
    lambda_da : float
        Weight of the CORAL term (1).
    lr : float
        Learning rate; 6e-5 by default, as for DANN and MMD.
    **kwargs
        Every parameter of [`CNNRegressor`][sklens.regression.CNNRegressor].
    """

    def __init__(self, module=None, *, lambda_da: float = 1.0, lr: float = 6e-5, **kwargs) -> None:
        super().__init__(module, lr=lr, lambda_da=lambda_da, **kwargs)

    def make_adaptation_loss(self, n_features: int) -> nn.Module:
        return CORALLoss()
