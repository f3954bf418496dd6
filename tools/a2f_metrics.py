"""How well predicted mouth curves follow the reference: the figures of the model card and the voice benchmark.

- speech-only Pearson r of jaw_open: only frames inside a phoneme count, so a model is not rewarded for the easy
  part (a shut mouth in long silences) or punished for the reference's conventions there;
- the best lag: the shift of the prediction against the reference with the highest speech-only r (positive: the
  prediction moves later), found on 10 ms steps;
- closure AUC: how well predicted lip_close ranks the frames where the lips must be shut (m, b, p: reference
  lip_close >= 0.5) above the other speech frames (reference < 0.1); 1.0 is perfect, 0.5 is chance.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from engines.timebase import MOUTH_PARAMS

JAW = MOUTH_PARAMS.index("jaw_open")
CLOSE = MOUTH_PARAMS.index("lip_close")
CLOSED, OPEN = 0.5, 0.1


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def closure_auc(predicted_close: np.ndarray, reference_close: np.ndarray) -> float:
    """Area under the ROC curve of predicted lip_close for shut (m, b, p) against open speech frames."""
    shut, other = predicted_close[reference_close >= CLOSED], predicted_close[reference_close < OPEN]
    if len(shut) == 0 or len(other) == 0:
        return float("nan")
    return float(stats.mannwhitneyu(shut, other).statistic / (len(shut) * len(other)))


def lagged_r(predicted: np.ndarray, reference: np.ndarray, speech: np.ndarray, utterance: np.ndarray,
             lags: range) -> dict[int, float]:
    """Speech-only r of predicted[t + lag] against reference[t], never pairing frames of two utterances; arrays
    are consecutive frames (one step each) of the utterances numbered in `utterance`."""
    result = {}
    for lag in lags:
        index = np.arange(max(0, -lag), len(predicted) - max(0, lag))
        keep = speech[index] & (utterance[index] == utterance[index + lag])
        result[lag] = pearson(predicted[index + lag][keep], reference[index][keep])
    return result


def lip_sync(predicted: np.ndarray, reference: np.ndarray, speech: np.ndarray, utterance: np.ndarray,
             step_ms: float, max_lag_ms: float = 100.0) -> dict[str, float]:
    """The voice-mode figures for (frames, N_PARAMS) predictions and references taken every `step_ms`."""
    steps = int(round(max_lag_ms / step_ms))
    by_lag = lagged_r(predicted[:, JAW], reference[:, JAW], speech, utterance, range(-steps, steps + 1))
    best = max(by_lag, key=lambda lag: -np.inf if np.isnan(by_lag[lag]) else by_lag[lag])
    return {
        "speech_r_jaw_open": by_lag[0],
        "best_lag_ms": best * step_ms,
        "r_at_best_lag": by_lag[best],
        "closure_auc": closure_auc(predicted[speech, CLOSE], reference[speech, CLOSE]),
        "speech_frames": float(speech.sum()),
    }
