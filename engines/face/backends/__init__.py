"""Inference backends for the audio-to-face network: the same ONNX model on ONNX Runtime or TensorRT, picked by
factory.py (`--face-backend`)."""
