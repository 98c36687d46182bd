"""The packed form: which rows are target rows, and how a missing domain is reported."""

import numpy as np
import pytest

from sklens.domains import split_packed, target_rows
from sklens.model_selection import SourceR2Scorer
from sklens.preprocessing import ImageNormalizer


def test_target_rows_are_those_nan_in_every_output():
    y = np.array([[1.0, 2.0], [np.nan, np.nan], [0.0, -1.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(target_rows(y), [False, True, False, True])
    np.testing.assert_array_equal(target_rows(y[:, 0]), [False, True, False, True])
    np.testing.assert_array_equal(target_rows([1, 2]), [False, False])


def test_target_rows_refuses_text():
    with pytest.raises(ValueError, match="numeric"):
        target_rows(["a", "b"])


def partly_nan():
    X = np.random.default_rng(0).normal(size=(6, 1, 4, 4)).astype(np.float32)
    y = np.column_stack([np.r_[np.arange(4.0), np.nan, np.nan], np.r_[np.arange(4.0), np.nan, np.nan]])
    y[2, 1] = np.nan
    return X, y


@pytest.mark.parametrize(
    "use",
    [
        lambda X, y: split_packed(X, y),
        lambda X, y: ImageNormalizer(scope="domain").fit(X, y),
        lambda X, y: SourceR2Scorer()(None, X, y),
    ],
    ids=["split_packed", "ImageNormalizer", "scorer"],
)
def test_every_reader_of_the_packed_form_refuses_a_partly_nan_row_alike(use):
    X, y = partly_nan()
    with pytest.raises(ValueError, match=r"1 rows of y are NaN in some outputs only \(e.g. row 2\)"):
        use(X, y)


def test_rows_without_a_labelled_one_name_the_splitter_that_keeps_both_domains():
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="the rows given have no labelled rows.*DomainStratifiedKFold"):
        split_packed(X, np.full(4, np.nan))
