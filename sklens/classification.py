"""Lens/non-lens classifiers: the HOLISMOKES-style CNN and its exactly rotation-invariant variants.

Both estimators are thin subclasses of
[`skorch.NeuralNetBinaryClassifier`](https://skorch.readthedocs.io/en/stable/classifier.html); the networks
live in [`sklens.nn.lensfinder`][sklens.nn.lensfinder] and [`sklens.nn.rotation`][sklens.nn.rotation]. The
network is built at fit time from the shape of the training images. The module's single output is a logit:
training uses ``BCEWithLogitsLoss`` (the seed's sigmoid output with binary cross-entropy, computed stably) and
``predict_proba`` applies the sigmoid.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping, EpochScoring
from skorch.utils import to_numpy

from sklens._deprecation import DEPRECATED, renamed, warn_renamed_attribute
from sklens._skorch import AutoDeviceMixin, ParameterValidationMixin, seeded_torch
from sklens._validation import as_model_input, check_images
from sklens.nn.lensfinder import LensFinderCNN, check_image_size

__all__ = ["LensClassifier", "RotInvariantLensClassifier"]


def _valid_accuracy(net: LensClassifier, X, y) -> float:
    """Accuracy on skorch's internal validation split (targets there are already 0/1)."""
    proba = net.predict_proba(X)
    return float(np.mean((proba[:, 1] > net.threshold) == (to_numpy(y) > 0.5)))


class LensClassifier(ParameterValidationMixin, AutoDeviceMixin, NeuralNetBinaryClassifier):
    """HOLISMOKES-style CNN lens finder (Canameras et al. 2020), as a scikit-learn classifier.

    Three convolutions (kernels ``kernel_sizes``, ``n_filters`` filters, ReLU, 2 x 2 max pooling
    after the first two), dropout, and three fully connected layers (``hidden``, then one sigmoid
    output). The defaults give 26,918,621 parameters for 3-band 60 x 60 images. Training: Adam with
    L2 weight decay, binary cross-entropy, early stopping on the loss of a stratified 20% validation
    split.

    Parameters
    ----------
    module : type, default=LensFinderCNN
        Network class; it receives ``in_channels``, ``image_size`` and the architecture parameters.
    n_filters : sequence of 3 int, default=(32, 64, 128)
        Filters of the three convolutions.
    kernel_sizes : sequence of 3 odd int, default=(11, 7, 3)
        Kernel sizes ('same' padding).
    hidden : sequence of 2 int, default=(900, 900)
        Widths of the first two fully connected layers.
    dropout : float, default=0.5
        Dropout probability before the first fully connected layer.
    lr : float, default=6e-4
        Adam learning rate.
    weight_decay : float, default=1e-4
        L2 penalty (Adam's ``weight_decay``); ``optimizer__weight_decay`` overrides it.
    batch_size : int, default=128
        Mini-batch size for training and prediction.
    max_epochs : int, default=35
        Maximum number of epochs.
    patience : int or None, default=5
        Early stopping: stop after this many epochs without a lower validation loss and restore the
        best weights. ``None`` or 0 disables it.
    threshold : float, default=0.5
        ``predict`` returns the second class when its probability exceeds this.
    optimizer : type, default=torch.optim.Adam
        Optimizer class.
    random_state : int, numpy RandomState or None, default=None
        Seeds weight initialisation, shuffling and dropout; with an int, CPU training is bit for bit
        reproducible. The caller's torch random stream is left untouched.
    device : str, default='auto'
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ...
    verbose : int, default=0
        Print a table of epochs when positive.
    n_hidden : sequence of 2 int, default='deprecated'
        Deprecated spelling of ``hidden`` (removed in 0.4).
    **kwargs
        Further skorch parameters (``train_split``, ``callbacks``, ``module__*``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels seen in ``fit``, sorted; ``predict_proba[:, 1]`` is the probability of
        ``classes_[1]``.
    input_shape_ : tuple of int
        ``(channels, height, width)`` of the training images (``n_channels_in_`` and ``image_size_``
        are its deprecated parts).
    module_ : torch.nn.Module
        The trained network.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3, 20, 20)).astype("float32")
    >>> y = np.arange(40) % 2
    >>> clf = LensClassifier(n_filters=(4, 4, 4), hidden=(8, 8), max_epochs=2, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (40, 2)
    """

    _parameter_constraints: dict = {
        "n_filters": ["array-like"],
        "kernel_sizes": ["array-like"],
        "hidden": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],  # 0: build the network only
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
    }

    classes_: np.ndarray | None = None  # shadows skorch's fixed [0, 1]; set by fit
    invariance: str | None = None  # the plain network; RotInvariantLensClassifier makes it a param

    def __init__(
        self,
        module: type[torch.nn.Module] = LensFinderCNN,
        *,
        n_filters: Sequence[int] = (32, 64, 128),
        kernel_sizes: Sequence[int] = (11, 7, 3),
        hidden: Sequence[int] = (900, 900),
        dropout: float = 0.5,
        lr: float = 6e-4,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 35,
        patience: int | None = 5,
        threshold: float = 0.5,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        random_state=None,
        device: str = "auto",
        verbose: int = 0,
        n_hidden=DEPRECATED,
        **kwargs,
    ) -> None:
        super().__init__(
            module,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            threshold=threshold,
            optimizer=optimizer,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.n_filters = n_filters
        self.kernel_sizes = kernel_sizes
        self.hidden = hidden
        self.n_hidden = n_hidden
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.patience = patience
        self.random_state = random_state

    # -- configuration -------------------------------------------------------------------------

    @property
    def _default_callbacks(self) -> list:
        callbacks = [(name, cb) for name, cb in super()._default_callbacks if name != "valid_acc"]
        if self.train_split:
            callbacks.append(
                (
                    "valid_acc",
                    EpochScoring(_valid_accuracy, name="valid_acc", lower_is_better=False),
                )
            )
            if self.patience:
                callbacks.append(
                    (
                        "early_stopping",
                        EarlyStopping(monitor="valid_loss", patience=self.patience, load_best=True),
                    )
                )
        return callbacks

    def _network_kwargs(self) -> dict:
        return {
            "in_channels": self.input_shape_[0],
            "image_size": self.input_shape_[1:],
            "n_filters": tuple(self.n_filters),
            "kernel_sizes": tuple(self.kernel_sizes),
            "hidden": tuple(renamed(type(self).__name__, "n_hidden", self.n_hidden, "hidden", self.hidden)),
            "dropout": self.dropout,
        }

    def initialize_module(self) -> LensClassifier:
        """Build the network for the image shape seen in ``fit`` (``module__*`` params override)."""
        if not hasattr(self, "input_shape_"):
            raise ValueError(f"{type(self).__name__} builds its network from the training images; call fit.")
        kwargs = {**self._network_kwargs(), **self.get_params_for("module")}
        self.module_ = self.module(**kwargs)
        return self

    def get_params_for_optimizer(self, prefix: str, named_parameters) -> tuple[list, dict]:
        """Pass ``weight_decay`` to the optimizer unless ``optimizer__weight_decay`` is set."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer":
            kwargs.setdefault("weight_decay", self.weight_decay)
        return args, kwargs

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X, y, **fit_params) -> LensClassifier:
        """Validate the data, build the network for its shape and train it.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W) or (n, H, W)
            Training images (finite values only).
        y : array-like of shape (n,)
            Labels with exactly two distinct values, e.g. 0 = non-lens, 1 = lens.
        **fit_params
            Passed to [`skorch.NeuralNet.fit`](https://skorch.readthedocs.io/en/stable/net.html).

        Returns
        -------
        self : LensClassifier
            The fitted estimator.
        """
        self._validate_params()
        images = check_images(X)
        check_image_size(images.shape[2:], self.invariance)
        classes, target = _encode_binary_labels(y, len(images))
        self.classes_ = classes
        self.input_shape_ = tuple(int(s) for s in images.shape[1:])
        with seeded_torch(self.random_state, self.device):
            super().fit(images, target, **fit_params)
        return self

    # -- prediction ----------------------------------------------------------------------------

    def _prediction_input(self, X) -> tuple[np.ndarray | torch.utils.data.Dataset, bool]:
        """Return ``X`` as a checked (n, C, H, W) batch and whether it was one image.

        The rule of every sklens estimator (``sklens._validation.as_model_input``): a 2-D array is one
        single-band image; a 3-D array is one (C, H, W) image for a multi-band model and a batch of
        single-band images for a single-band one; a 4-D array is a batch. skorch datasets (used by the
        internal validation) pass through unchanged.
        """
        if isinstance(X, torch.utils.data.Dataset):
            return X, False
        check_is_fitted(self, "input_shape_")
        return as_model_input(X, self.input_shape_, type(self).__name__)

    @property
    def n_channels_in_(self) -> int:
        """Deprecated: ``input_shape_[0]``."""
        warn_renamed_attribute(type(self).__name__, "n_channels_in_", "input_shape_[0]")
        return self.input_shape_[0]

    @property
    def image_size_(self) -> tuple[int, int]:
        """Deprecated: ``input_shape_[1:]``."""
        warn_renamed_attribute(type(self).__name__, "image_size_", "input_shape_[1:]")
        return self.input_shape_[1:]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), (n, H, W), (C, H, W) or (H, W)
            Images of the fitted shape, or one image.

        Returns
        -------
        ndarray of shape (n, 2), or (2,) for one image
            Probabilities of ``classes_[0]`` and ``classes_[1]`` (the lens class for 0/1 labels).

        Examples
        --------
        >>> clf.predict_proba(X[0])[1]  # doctest: +SKIP
        0.93
        """
        images, single = self._prediction_input(X)
        proba = super().predict_proba(images)
        return proba[0] if single else proba

    def decision_function(self, X) -> np.ndarray:
        """The network's logit: positive values favour ``classes_[1]``.

        Parameters
        ----------
        X : array-like
            Images as for [`predict_proba`][sklens.classification.LensClassifier.predict_proba], or one image.

        Returns
        -------
        ndarray of shape (n,), or a float for one image
            ``log(p / (1 - p))`` with ``p = predict_proba(X)[:, 1]``.

        Examples
        --------
        >>> clf.decision_function(X).shape  # doctest: +SKIP
        (40,)
        """
        images, single = self._prediction_input(X)
        logits = to_numpy(self.forward(images, training=False)).reshape(-1)
        return logits[0] if single else logits

    def predict(self, X) -> np.ndarray:
        """Predicted labels: ``classes_[1]`` where its probability exceeds ``threshold``.

        Parameters
        ----------
        X : array-like
            Images as for [`predict_proba`][sklens.classification.LensClassifier.predict_proba], or one image.

        Returns
        -------
        ndarray of shape (n,), or one label for one image

        Examples
        --------
        >>> clf.predict(X).shape  # doctest: +SKIP
        (40,)
        """
        proba = self.predict_proba(X)
        return self.classes_[(proba[..., 1] > self.threshold).astype(int)]


class RotInvariantLensClassifier(LensClassifier):
    """Lens finder whose output is exactly invariant to 90-degree rotations (optionally flips).

    The same network and training as [`LensClassifier`][sklens.classification.LensClassifier], with one of two
    constructions (see [`sklens.nn.rotation`][sklens.nn.rotation]):

    * ``invariance='input'``: the seed's rotational first layer - the four rotated inputs are
      convolved with one kernel and the element-wise maximum is taken before the bias. Its feature
      maps are *identical* for all rotations of the input, so the network is invariant.
    * ``invariance='group'``: C4 (or D4) group convolutions keep one map per orientation, the
      orientations are max-pooled, and the first fully connected layer takes the maximum of its
      response over the rotated copies of the pooled maps. Spatial structure is kept throughout. The
      image side must be a multiple of 4 (a clear error otherwise): the two 2 x 2 poolings must tile
      the maps symmetrically. Compute grows about ``|G|`` times in the first and ``|G|**2`` times in
      the later convolutions (``n_filters`` counts filters per orientation).

    Invariance holds bit for bit in float32, with random or trained weights, because no kernel is
    ever rotated: the inputs are, and rotating a float array is exact. Images must be square.

    Parameters
    ----------
    invariance : {'input', 'group'}, default='input'
        The construction.
    group : {'C4', 'D4'}, default='C4'
        Rotations only, or rotations and mirror images.
    **kwargs
        Every parameter of [`LensClassifier`][sklens.classification.LensClassifier].

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 3, 20, 20)).astype("float32")
    >>> y = np.arange(40) % 2
    >>> clf = RotInvariantLensClassifier(
    ...     invariance="group", n_filters=(4, 4, 4), hidden=(8, 8), max_epochs=1, random_state=0
    ... ).fit(X, y)
    >>> p = clf.predict_proba(X)[:, 1]
    >>> bool(np.all(p == clf.predict_proba(np.rot90(X, 1, axes=(2, 3)))[:, 1]))
    True
    """

    _parameter_constraints: dict = {
        **LensClassifier._parameter_constraints,
        "invariance": [StrOptions({"input", "group"})],
        "group": [StrOptions({"C4", "D4"})],
    }

    def __init__(
        self,
        module: type[torch.nn.Module] = LensFinderCNN,
        *,
        invariance: str = "input",
        group: str = "C4",
        **kwargs,
    ) -> None:
        super().__init__(module, **kwargs)
        self.invariance = invariance
        self.group = group

    def _network_kwargs(self) -> dict:
        return {**super()._network_kwargs(), "invariance": self.invariance, "group": self.group}


def _encode_binary_labels(y, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the two sorted classes and ``y`` encoded as float32 0/1, or raise ``ValueError``."""
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != n_samples:
        raise ValueError(f"y must be 1-D with one label per image ({n_samples}); got shape {labels.shape}.")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("y contains NaN or infinite labels.")
    classes, encoded = np.unique(labels, return_inverse=True)
    if len(classes) != 2:
        raise ValueError(
            "lens classifiers are binary: y must hold exactly two classes (e.g. 0 = non-lens, "
            f"1 = lens); got {len(classes)}: {classes[:10].tolist()}."
        )
    return classes, encoded.astype(np.float32)
