"""Build the TensorRT engine (FP16, batch 1..64) for this GPU from the ONNX model, into the engine cache.

    .venv/bin/python -m tools.build_engine                      # assets/models/a2f.onnx -> ~/.cache/streaming-avatar/trt/<key>.engine
    .venv/bin/python -m tools.build_engine --fp32 --out my.engine

The server builds the same engine on first use when it is missing; building ahead keeps that minute out of the
first start. Needs an NVIDIA GPU, tensorrt 10 and torch with CUDA.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from engines.face.backends.base import DEFAULT_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, help="engine file (default: the cache path for this GPU and model)")
    parser.add_argument("--fp32", action="store_true", help="build without FP16 kernels")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    try:
        from engines.face.backends.tensorrt_engine import build_engine, engine_path
    except ImportError as error:
        raise SystemExit(f"TensorRT is not available here ({error}); build the engine on the GPU machine") from error
    fp16 = not args.fp32
    out = args.out or engine_path(args.onnx, fp16=fp16)
    started = time.perf_counter()
    build_engine(args.onnx, out, fp16=fp16)
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
