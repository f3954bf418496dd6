"""The audio-to-face network: a window of log-mel frames around a video frame's centre -> mouth parameters.

Only Conv1d, ReLU, Linear, Sigmoid, ReduceMean, Concat and Transpose, so ONNX Runtime and TensorRT run it as is
(FP16 included). The window is fixed (features.PAST mel frames before the centre frame, features.FUTURE after
it, as the server runs it; training tools may build it with another look-ahead to measure what that costs); its
input normalisation lives inside the model so every backend takes raw log-mel.
"""
from __future__ import annotations

import torch
from torch import nn

from engines.face.features import N_MELS, WINDOW
from engines.timebase import N_PARAMS


class AudioToFace(nn.Module):
    """(batch, WINDOW, N_MELS) log-mel -> (batch, N_PARAMS) in [0, 1]."""

    def __init__(self, channels: int = 96, hidden: int = 128, window: int = WINDOW) -> None:
        super().__init__()
        self.window = window
        self.register_buffer("mel_mean", torch.zeros(N_MELS))
        self.register_buffer("mel_std", torch.ones(N_MELS))
        # Input: the normalised bands plus the same bands with the window's mean removed, which cancels a voice's
        # or a microphone's fixed spectral colour and loudness while the first half still tells speech from silence.
        self.convs = nn.Sequential(
            nn.Conv1d(2 * N_MELS, channels, kernel_size=5, stride=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2),
            nn.ReLU(),
            nn.Conv1d(channels, hidden, kernel_size=3, stride=2),
            nn.ReLU(),
        )
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 2 * N_MELS, window)).numel()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_PARAMS),
        )

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std.clamp_min(1e-3))

    def logits(self, mel: torch.Tensor) -> torch.Tensor:
        x = (mel - self.mel_mean) / self.mel_std
        centred = x - x.mean(dim=1, keepdim=True)
        x = torch.cat([x, centred], dim=2).transpose(1, 2)
        return self.head(self.convs(x))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(mel))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
