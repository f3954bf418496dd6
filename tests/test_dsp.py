"""engines/dsp.py computes what the scipy.signal functions it stands in for compute."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from engines.dsp import kaiser_lowpass, periodic_hann, resample_poly


@pytest.mark.parametrize(("taps", "cutoff", "beta"), [(63, 0.5, 8.0), (6401, 1 / 320, 5.0), (129, 0.2, 5.0)])
def test_kaiser_lowpass_is_firwin(taps, cutoff, beta):
    np.testing.assert_allclose(kaiser_lowpass(taps, cutoff, beta), signal.firwin(taps, cutoff, window=("kaiser", beta)),
                               rtol=0, atol=1e-12)


def test_periodic_hann_is_scipys_hann():
    for length in (400, 512, 7):
        np.testing.assert_allclose(periodic_hann(length), signal.get_window("hann", length, fftbins=True), atol=1e-12)


@pytest.mark.parametrize(("up", "down"), [(320, 147), (1, 3), (3, 1), (147, 160), (17, 16), (2, 2)])
@pytest.mark.parametrize("length", [0, 1, 5, 1000, 44_100])
def test_resample_poly_is_scipys(up, down, length):
    rng = np.random.default_rng(length + up)
    x = (rng.standard_normal(length) * 8000).astype(np.float32)
    ours, theirs = resample_poly(x, up, down), signal.resample_poly(x, up, down)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.05)  # float32 sums in another order; 0.05 of 1 LSB
