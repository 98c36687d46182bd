"""The predictive distribution of a fitted regressor: its members' heads read on the network's outputs.

A fitted [`DomainAdaptiveRegressor`][sklens.base.DomainAdaptiveRegressor] gives, for inputs X, the
network's outputs per member, shape (n_members, n, width), and one head per member
([`sklens.nn.heads`][sklens.nn.heads]). The functions here turn them into moments, samples and
log-likelihoods (in the standardised units the model trained on), and
[`PredictiveMixin`][sklens.predictive.PredictiveMixin] gives the estimator its public methods on top:
``predict`` (and ``return_std``), ``predict_members``, ``sample_posterior``, ``log_likelihood`` and
``score``, in the units of the ``y`` it was fitted on. An ensemble's predictive distribution is the
mixture of its members'; a single model is the ensemble of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils._available_if import available_if
from skorch.utils import to_tensor

from sklens._skorch import seeded_torch
from sklens._validation import as_float_array, as_model_input
from sklens.calibration import scale_about_mean
from sklens.domains import target_rows
from sklens.nn.domain_norm import domain_rows
from sklens.nn.ensemble import forward_members, with_member_axis
from sklens.nn.heads import HEADS, Head
from sklens.nn.tap import evaluation_mode

__all__ = ["PredictiveMixin", "member_log_likelihood", "member_moments", "member_samples", "target_scales"]

#: Seed of the draws from which a sampled head's moments are estimated, so that ``predict`` is
#: deterministic.
MOMENTS_SEED = 0
#: Rows per chunk when a head is read, to bound the memory of (samples, rows, parameters).
CHUNK = 256


def member_moments(
    outputs: torch.Tensor, heads: Sequence[Head], device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Each member's predictive mean and variance, (n_members, n, k) each, in float64 on the host.

    A head that samples to estimate its moments (the flow) draws with seed ``MOMENTS_SEED``, chunk by
    chunk of ``CHUNK`` rows and member by member within a chunk.

    Parameters
    ----------
    outputs : torch.Tensor of shape (n_members, n, width)
        The network's outputs per member.
    heads : sequence of Head
        One head per member.
    device : str
        Where the heads compute.

    Returns
    -------
    means, variances : numpy.ndarray of shape (n_members, n, k)

    Examples
    --------
    >>> from sklens.nn.heads import GaussianHead
    >>> means, variances = member_moments(torch.zeros(2, 3, 4), [GaussianHead(), GaussianHead()])
    >>> means.shape, round(float(variances[0, 0, 0]), 4)
    ((2, 3, 2), 0.6931)
    """
    chunks = []
    with torch.no_grad(), seeded_torch(MOMENTS_SEED, device):
        for i in range(0, outputs.shape[1], CHUNK):
            chunks.append(
                [
                    [
                        part.cpu().numpy().astype(np.float64)
                        for part in head.moments(out[i : i + CHUNK].to(device))
                    ]
                    for head, out in zip(heads, outputs, strict=True)
                ]
            )
    means = np.concatenate([np.stack([member[0] for member in chunk]) for chunk in chunks], axis=1)
    variances = np.concatenate([np.stack([member[1] for member in chunk]) for chunk in chunks], axis=1)
    return means, variances


def member_samples(
    outputs: torch.Tensor, heads: Sequence[Head], n_samples: int, device: str = "cpu"
) -> torch.Tensor:
    """Each member's draws from torch's current random stream, (n_members, n_samples, n, k) on the CPU.

    Drawn member by member, and within a member chunk by chunk of ``CHUNK`` rows.
    """
    return torch.stack(
        [
            torch.cat(
                [
                    head.sample(out[i : i + CHUNK].to(device), n_samples).cpu()
                    for i in range(0, len(out), CHUNK)
                ],
                dim=1,
            )
            for head, out in zip(heads, outputs, strict=True)
        ]
    )


def member_log_likelihood(
    outputs: torch.Tensor, heads: Sequence[Head], z: torch.Tensor, device: str = "cpu"
) -> np.ndarray:
    """The log density of ``z`` (n, k) under the members' mixture, shape (n,), in the heads' units."""
    with torch.no_grad():
        log_p = torch.stack(
            [head.log_prob(out.to(device), z).cpu() for head, out in zip(heads, outputs, strict=True)]
        )
    return (torch.logsumexp(log_p.double(), dim=0) - np.log(len(heads))).numpy()


def target_scales(y: np.ndarray, standard: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and scale: the standard scaling a model trains on, or 0 and 1 (y as given).

    Parameters
    ----------
    y : numpy.ndarray of shape (n, k)
        The source rows' labels.
    standard : bool
        Standardise each column by its mean and standard deviation (a constant column is only
        centred).

    Returns
    -------
    mean, scale : numpy.ndarray of shape (k,), float64

    Examples
    --------
    >>> target_scales(np.array([[1.0, 5.0], [3.0, 5.0]]), standard=True)
    (array([2., 5.]), array([1., 1.]))
    """
    k = y.shape[1]
    if not standard:
        return np.zeros(k), np.ones(k)
    y = y.astype(np.float64)
    scale = y.std(axis=0)
    return y.mean(axis=0), np.where(scale > 0, scale, 1.0)


class PredictiveMixin:
    """What a fitted regressor computes on new inputs: ``predict``, ``predict_members``,
    ``sample_posterior``, ``log_likelihood`` and ``score`` from its network's outputs and its heads
    (``output_head_``), and ``transform_features``.

    The estimator provides ``module_``, ``output_head_``, ``n_members``, ``predict_domain``, the fitted
    shape (``input_shape_``, ``n_outputs_``, ``y_ndim_``) and the scaling of y (``y_mean_``,
    ``y_scale_``).
    """

    def predict(self, X, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predict the parameters of ``X``: the predictive mean (the members' mean for an ensemble).

        The point head's prediction, the gaussian head's mean, or the flow's posterior mean, estimated
        from 1000 samples per row drawn with a fixed seed (so ``predict`` is deterministic); in the
        units of the ``y`` the model was fitted on.

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

        Examples
        --------
        >>> import numpy as np
        >>> from sklens import MMDRegressor
        >>> rng = np.random.default_rng(0)
        >>> X, X_tgt = rng.normal(size=(2, 64, 1, 16, 16)).astype("float32")
        >>> model = MMDRegressor(head="gaussian", max_epochs=1, random_state=0)
        >>> mean, std = model.fit(X, X.mean(axis=(1, 2, 3)), X_tgt=X_tgt).predict(X[:3], return_std=True)
        >>> mean.shape, bool((std > 0).all())
        ((3,), True)
        """
        means, variances = self._member_moments(X)
        mean = means.mean(axis=0)
        if not return_std:
            return mean
        scale = self.spread_scale_[0] if self.y_ndim_ == 1 else self.spread_scale_
        return mean, np.sqrt(variances.mean(axis=0) + means.var(axis=0)) * scale

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
        return self._member_moments(X)[0]

    def sample_posterior(self, X, n_samples: int, random_state=None) -> np.ndarray:
        """Draw parameters from the predictive distribution of each row of ``X``.

        For an ensemble, each sample comes from a member chosen uniformly at random (the members'
        mixture). Needs a head with a distribution (``head='gaussian'`` or ``head='flow'``).

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
            If ``n_samples`` is not a positive integer or the model's head has no distribution.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        samples, single = self._samples(X, n_samples, random_state)
        if (self.spread_scale_ != 1).any():
            samples = scale_about_mean(samples, self.spread_scale_)
        return self._in_y_units(samples, single, row_axis=1, scaled=False)

    def log_likelihood(self, X, y) -> np.ndarray:
        """Each row's log density of ``y`` under the predictive distribution of ``X``.

        The density is over the parameters in the units of the ``y`` the model was fitted on (the
        scaling of ``target_scaling`` is accounted for): for the gaussian head, the sum over
        parameters of the Gaussian log densities; for the flow, the flow's; for an ensemble, the
        log of the members' mean density. Needs a head with a distribution.

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
        outputs, _ = self._distribution_outputs(X, "log_likelihood")
        y = as_float_array(y, "y").astype(np.float64).reshape(outputs.shape[1], -1)
        if y.shape[1] != self.n_outputs_ or not np.isfinite(y).all():
            raise ValueError(
                f"y must hold {outputs.shape[1]} finite rows of {self.n_outputs_} parameters; "
                f"got shape {y.shape} with {int((~np.isfinite(y)).sum())} non-finite values."
            )
        z = (y - self.y_mean_) / self.y_scale_
        log_scale = np.log(self.y_scale_).sum()
        if (self.spread_scale_ != 1).any():  # the density of the distribution scaled about its mean
            mean = member_moments(outputs, self.output_head_, self.device)[0].mean(axis=0)
            z = mean + (z - mean) / self.spread_scale_
            log_scale += np.log(self.spread_scale_).sum()
        z = to_tensor(z.astype(np.float32), self.device)
        return member_log_likelihood(outputs, self.output_head_, z, self.device) - log_scale

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

    # ----------------------------------------------------------------------------------- features
    @available_if(lambda self: False)
    def predict_proba(self, X):
        """Not available: a regressor has no class probabilities (skorch's raw output is ``predict``)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

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
        row_ndim = len(self.input_shape_)
        with (
            evaluation_mode(self.module_),
            torch.no_grad(),
            domain_rows(self.module_, domain=self.predict_domain),
        ):
            parts = [
                forward_members(
                    self.module_,
                    with_member_axis(to_tensor(X[i : i + step], self.device), self.n_members, row_ndim),
                    self.feature_layer,
                )[0]
                .cpu()
                .numpy()
                for i in range(0, len(X), step)
            ]
        features = np.concatenate(parts)  # (n, K, n_features)
        return features[:, 0] if self.n_members == 1 else features.transpose(1, 0, 2)

    # ------------------------------------------------------------------------------------ helpers
    def _as_model_input(self, X) -> tuple[np.ndarray, bool]:
        self.check_is_fitted()
        return as_model_input(X, self.input_shape_, type(self).__name__)

    def _member_outputs(self, X, domain: str | None = None) -> tuple[torch.Tensor, bool]:
        """The network's outputs for ``X`` on the CPU, (n_members, n, width), and whether X was one
        image; with ``domain``'s BatchNorm statistics (``predict_domain``'s by default)."""
        X, single = self._as_model_input(X)
        # skorch's DataLoader draws a seed from torch's global generator; keep the caller's stream.
        with (
            torch.random.fork_rng(devices=[]),
            domain_rows(self.module_, domain=domain or self.predict_domain),
        ):
            outputs = self.forward(X, training=False, device="cpu")
        return outputs.reshape(len(outputs), self.n_members, -1).transpose(0, 1), single

    def _distribution_outputs(self, X, method: str, domain: str | None = None) -> tuple[torch.Tensor, bool]:
        """``_member_outputs`` for a method that needs a distribution, refusing a head without one."""
        self.check_is_fitted()
        if not self.output_head_[0].has_distribution:
            names = " or ".join(f"head={name!r}" for name, head in HEADS.items() if head.has_distribution)
            raise ValueError(
                f"{method} needs a predictive distribution: fit with {names} "
                f"(this {type(self).__name__} has head={self.settings_['head']!r})."
            )
        return self._member_outputs(X, domain)

    def _samples(
        self, X, n_samples: int, random_state=None, domain: str | None = None
    ) -> tuple[np.ndarray, bool]:
        """Draws from the members' mixture as the head predicts it, (n_samples, n, k) in the units of y
        (before the spread's calibration), and whether X was one image."""
        outputs, single = self._distribution_outputs(X, "sample_posterior", domain)
        with torch.no_grad(), seeded_torch(random_state, self.device):
            samples = member_samples(outputs, self.output_head_, n_samples, self.device)
            member = torch.randint(self.n_members, samples.shape[1:3])
        samples = samples.gather(0, member[None, ..., None].expand(1, *samples.shape[1:]))[0]
        return samples.numpy().astype(np.float64) * self.y_scale_ + self.y_mean_, single

    def _member_moments(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Each member's predictive mean and variance in the units of y, shaped as ``predict_members``."""
        outputs, single = self._member_outputs(X)
        means, variances = member_moments(outputs, self.output_head_, self.device)
        return (
            self._in_y_units(means, single, row_axis=1),
            self._in_y_units(variances, single, row_axis=1, variance=True),
        )

    def _in_y_units(
        self, values: np.ndarray, single: bool, row_axis: int, variance: bool = False, scaled: bool = True
    ) -> np.ndarray:
        """Undo the scaling of y on (..., n, k) ``values`` (unless ``scaled`` is False: already in
        the units of y); drop k for a 1-D y and n for one image."""
        if scaled:
            values = values * self.y_scale_**2 if variance else values * self.y_scale_ + self.y_mean_
        if self.y_ndim_ == 1:
            values = values[..., 0]
        return values.take(0, axis=row_axis) if single else values
