"""Settings of the reproduction of Swierc et al. (2023): presets, methods and the paper's Table 1."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Table 1 of Swierc et al. (2023): mean and standard deviation over 10 seeds of R^2 (per-batch R^2
# averaged over batches in the authors' notebook; see docs/results.md).
PAPER_TABLE1 = {
    "none": {"source": (0.98, 0.0011), "target": (0.50, 0.23)},
    "dann": {"source": (0.97, 0.0052), "target": (0.94, 0.011)},
    "mmd": {"source": (0.98, 0.013), "target": (0.95, 0.018)},
}

METHOD_LABELS = {
    "none": "No DA",
    "dann": "DANN",
    "mmd": "MMD",
    "coral": "CORAL",
    "rsd": "RSD",
    "daregram": "DARE-GRAM",
    "oracle": "Oracle",
}
SCALINGS = ("per-domain", "raw", "asinh")
MMD_BANDWIDTHS = ("mean", "median")


@dataclass(frozen=True)
class ReproductionConfig:
    """Everything that determines a reproduction run; it is written to ``results.json``.

    Attributes
    ----------
    n : int
        Lenses per domain (split 70/10/20 into train/test/validation).
    epochs : int
        Training epochs of every method.
    seeds : int
        Training seeds per method (network initialisation and batch order).
    methods : tuple of str
        Among ``none``, ``dann``, ``mmd``, ``coral``, ``rsd``, ``daregram`` and ``oracle`` (trained on
        target labels).
    scaling : str
        ``per-domain``: each domain divided by the pixel standard deviation of its own training split
        (a statistic of unlabelled images); ``raw``: deeplenstronomy's counts, as the paper states;
        ``asinh``: ``arcsinh`` of the per-domain scaled pixels, linear for the bulk and logarithmic for
        the brightest images, which have ~30x the median peak.
    lr : dict
        Adam learning rate per method.
    lambda_mmd : float
        Weight of the MMD loss.
    lambda_dann : float
        Weight of the domain-adversarial loss.
    lambda_rsd : float
        Weight of the RSD loss: 0.1, the only weight of {0.001 (the reference code's), 0.01, 0.1} that
        beat no adaptation on both seeds of the test suite's toy shift.
    head : str
        Every method's output head (``head``): ``point`` (the paper's), ``gaussian`` (a mean and a
        variance, beta-NLL) or ``flow``; Table 1 scores the predictive mean.
    domain_batchnorm : bool
        Train every method but the oracle with domain-specific BatchNorm statistics
        (``domain_batchnorm=True``) and predict each test set with its own domain's statistics.
    feature_norm : bool
        Every method's network ends its feature extractor with a
        [`FeatureNorm`][sklens.nn.layers.FeatureNorm] (``module__feature_norm=True``): each image's
        features standardised over the features, what the adaptation loss and the head see.
    mmd_bandwidth : str
        Base of the MMD kernels' bandwidths: the batch's mean squared distance (``mean``, the paper's)
        or its median (``median``), see [`MMDRegressor`][sklens.regression.MMDRegressor].
    batch_size : int
        Source images per step (and target images per step).
    data_seed : int
        Seed of the simulations (the paper's SEED is 10).
    ensemble : bool or None
        Train a method's seeds as the members of one ensemble (``n_members=seeds``, member k being
        the fit with seed k), in one vectorised pass; False trains one run per seed. None: an ensemble
        on a GPU, separate runs on a CPU, where one pass measured no faster than separate runs two at
        a time (docs/performance.md, "Ensembles").
    """

    n: int
    epochs: int
    seeds: int
    methods: tuple[str, ...] = ("none", "dann", "mmd", "oracle")
    scaling: str = "per-domain"
    lr: dict = field(
        default_factory=lambda: {
            "none": 1e-5,
            "dann": 6e-5,
            "mmd": 6e-5,
            "coral": 6e-5,
            "rsd": 6e-5,
            "daregram": 6e-5,
            "oracle": 1e-5,
        }
    )
    lambda_mmd: float = 1.4
    lambda_dann: float = 1.0
    lambda_rsd: float = 0.1
    mmd_bandwidth: str = "mean"
    head: str = "point"
    domain_batchnorm: bool = False
    feature_norm: bool = False
    batch_size: int = 32
    data_seed: int = 10
    ensemble: bool | None = None

    def with_overrides(self, **overrides) -> ReproductionConfig:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


PRESETS = {
    # Sized by measurement to finish within 10 minutes on a 2-core CPU, simulation included. Learning
    # rates: per method, the best mean target R^2 of {6e-5, 1.5e-4, 3e-4, 1e-3} over two seeds on
    # another draw of the domains (data_seed 11), among rates where no seed diverged
    # (benchmarks/study_quick_lr.py; docs/results.md). The paper's rates stay in the paper preset.
    "quick": ReproductionConfig(
        n=4000,
        epochs=15,
        seeds=3,
        lr={
            "none": 1e-3,
            "dann": 1e-3,
            "mmd": 1e-3,
            "coral": 1e-3,
            "rsd": 1.5e-4,
            "daregram": 6e-5,
            "oracle": 1e-3,
        },
    ),
    # The paper's settings: 50,000 lenses per domain, 30 epochs, 10 seeds, its learning rates.
    "paper": ReproductionConfig(n=50_000, epochs=30, seeds=10),
}
