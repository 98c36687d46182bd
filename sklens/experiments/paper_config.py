"""What the reproduction takes from Swierc et al. (2023): its Table 1, the methods' labels, MMD's bandwidths.

The reproduction's configuration and presets are in [`reproduce`][sklens.experiments.reproduce], the pixel
scalings in [`data`][sklens.experiments.data].
"""

from __future__ import annotations

from sklens._deprecation import moved_names

# Table 1 of Swierc et al. (2023): mean and standard deviation over 10 seeds of R^2 (per-batch R^2
# averaged over batches in the authors' notebook; see docs/results.md).
PAPER_TABLE1 = {
    "none": {"source": (0.98, 0.0011), "target": (0.50, 0.23)},
    "dann": {"source": (0.97, 0.0052), "target": (0.94, 0.011)},
    "mmd": {"source": (0.98, 0.013), "target": (0.95, 0.018)},
}

#: The label of each method of the experiments in tables and figures: the keys of
#: ``sklens.regression.METHODS``, and ``oracle`` (no adaptation fitted on the target's labels).
METHOD_LABELS = {
    "none": "No DA",
    "dann": "DANN",
    "mmd": "MMD",
    "coral": "CORAL",
    "rsd": "RSD",
    "daregram": "DARE-GRAM",
    "oracle": "Oracle",
}
MMD_BANDWIDTHS = ("mean", "median")
#: The prefix of the reproduction's rows trained at the library's defaults (``sklens-dann``), beside
#: the rows configured as the paper's (``dann``).
LIBRARY_PREFIX = "sklens-"


def row_label(name: str) -> str:
    """The label of a reproduction row: the method's, and for a row at the library's defaults, so.

    Examples
    --------
    >>> row_label("dann"), row_label("sklens-dann")
    ('DANN', 'DANN, sklens defaults')
    """
    method = name.removeprefix(LIBRARY_PREFIX)
    return METHOD_LABELS[method] + (", sklens defaults" if method != name else "")


__getattr__ = moved_names(
    __name__,
    {
        "ReproductionConfig": "sklens.experiments.reproduce",
        "PRESETS": "sklens.experiments.reproduce",
        "SCALINGS": "sklens.experiments.data",
    },
)
