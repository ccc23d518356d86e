"""Feature helpers the AutoML model carries (so they must pickle and load wherever it is served).

``to_feature_frame`` and ``to_dense_float32`` are steps of the AutoML model's pipeline; ``densify_rows`` gives
PyCaret the rows it samples from the sparse chi² features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse


def to_dense_float32(matrix: Any) -> np.ndarray:
    """Densifies a (sparse) matrix as float32: half the memory of float64, same ranking of features."""
    if sparse.issparse(matrix):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float32)


def feature_names(count: int) -> list[str]:
    """Column names of the dense feature table (``f0000`` …), shared by training and prediction."""
    return [f"f{i:04d}" for i in range(count)]


def to_feature_frame(matrix: np.ndarray) -> pd.DataFrame:
    """Wraps dense features in a frame with the column names PyCaret was set up with."""
    return pd.DataFrame(matrix, columns=feature_names(matrix.shape[1]))


def densify_rows(features: sparse.spmatrix | pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """The dense feature table (``f…`` float32 columns) of some rows, the way PyCaret is given them.

    Args:
        features: Sparse chi² features (``vectorise``'s ``train_features``) or an already dense table.
        rows: Positions of the rows to keep, in that order; all rows when ``None``.

    Returns:
        One ``f…`` column a feature; only the kept rows are ever densified.
    """
    if isinstance(features, pd.DataFrame):
        return features if rows is None else features.iloc[rows].reset_index(drop=True)
    kept = features if rows is None else features[rows]
    return to_feature_frame(to_dense_float32(kept))
