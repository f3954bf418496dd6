"""TensorRT backend against ONNX Runtime; runs only where an NVIDIA GPU and TensorRT 10 are present."""
import numpy as np
import pytest

from engines.face.backends.base import DEFAULT_MODEL, MAX_BATCH
from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
from engines.face.features import N_MELS, WINDOW

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (no GPU on this machine)")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible: TensorRT tests need one", allow_module_level=True)

from engines.face.backends.tensorrt_backend import TensorRTBackend  # noqa: E402
from engines.face.backends.tensorrt_engine import build_engine, engine_path  # noqa: E402

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def engine_file(tmp_path_factory):
    return build_engine(DEFAULT_MODEL, tmp_path_factory.mktemp("trt") / "a2f.engine", fp16=True)


@pytest.mark.parametrize("batch", [1, 8, 33, MAX_BATCH])
def test_tensorrt_fp16_agrees_with_onnxruntime(engine_file, batch):
    mel = (np.random.default_rng(batch).standard_normal((batch, WINDOW, N_MELS)) * 3 - 8).astype(np.float32)
    expected = OnnxRuntimeBackend(DEFAULT_MODEL, device="cpu").run(mel)
    got = TensorRTBackend(DEFAULT_MODEL, engine_file).run(mel)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-2  # FP16 on values in [0, 1]


def test_engine_cache_key_names_gpu_version_and_model():
    name = engine_path(DEFAULT_MODEL).name
    assert trt.__version__ in name and "fp16" in name
    assert torch.cuda.get_device_name(0).split()[0] in name
