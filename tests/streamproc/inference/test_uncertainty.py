"""Uncertainty strategies on known probability rows."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.inference.uncertainty import uncertainty

ROWS = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.7, 0.2, 0.1]])


def test_least_confidence() -> None:
    assert uncertainty(ROWS, "least_confidence") == pytest.approx([0.0, 0.5, 2 / 3, 0.3])


def test_margin() -> None:
    assert uncertainty(ROWS, "margin") == pytest.approx([0.0, 1.0, 1.0, 0.5])


def test_entropy_is_normalised() -> None:
    got = uncertainty(ROWS, "entropy")
    assert got[0] == pytest.approx(0.0) and got[2] == pytest.approx(1.0)
    assert got[1] == pytest.approx(np.log(2) / np.log(3))


def test_predicted_loss_needs_the_loss_head() -> None:
    with pytest.raises(ValueError, match="loss head"):
        uncertainty(ROWS, "predicted_loss")
