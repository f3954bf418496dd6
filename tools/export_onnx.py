"""Export the audio-to-face network to ONNX (dynamic batch axis) and check it against PyTorch.

    .venv/bin/python -m tools.export_onnx --checkpoint data/a2f/a2f.pt --out assets/models/a2f.onnx
    .venv/bin/python -m tools.export_onnx --untrained --out /tmp/a2f.onnx   # same graph, random weights
"""
from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from engines.face.backends.base import DEFAULT_MODEL, INPUT_NAME, MAX_BATCH, OUTPUT_NAME
from engines.face.features import N_MELS
from engines.face.model import AudioToFace

log = logging.getLogger(__name__)
OPSET = 17
CHECK_BATCHES = (1, 7, MAX_BATCH)


def export_onnx(model: AudioToFace, out: Path) -> None:
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (no onnxscript needed, plain Conv/Gemm/Relu graphs);
        # its deprecation notice says nothing about this model.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(2, model.window, N_MELS),),
            str(out),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    onnx.checker.check_model(onnx.load(str(out)))


def max_export_error(model: AudioToFace, onnx_path: Path, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over random log-mel batches of several sizes."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    model.eval()
    for batch in CHECK_BATCHES:
        mel = (rng.standard_normal((batch, model.window, N_MELS)) * 3 - 8).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(mel)).numpy()
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: mel})
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def load_checkpoint(path: Path) -> AudioToFace:
    model = AudioToFace()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="state dict written by tools.train_a2f")
    source.add_argument("--untrained", action="store_true", help="export freshly initialised weights (seed 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.untrained:
        torch.manual_seed(0)
        model = AudioToFace()
    else:
        model = load_checkpoint(args.checkpoint)
    export_onnx(model, args.out)
    error = max_export_error(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); max |onnx - torch| = {error:.2e}")
    if error > 1e-4:
        raise SystemExit("ONNX output disagrees with PyTorch")


if __name__ == "__main__":
    main()
