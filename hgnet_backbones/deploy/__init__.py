"""Export to ONNX and TensorRT through mmdeploy 1.3.1 (:mod:`.export`, :mod:`.tensorrt`), verified
against the PyTorch model (:mod:`.verify`)."""
from .export import custom_operators, export_onnx, operator_counts
from .tensorrt import TensorRTWrapper, build_tensorrt_engine, tensorrt_unavailable_reason
from .verify import TOLERANCES, build_backend_model, build_pytorch_model, deploy, verify

__all__ = ['TOLERANCES', 'TensorRTWrapper', 'build_backend_model', 'build_pytorch_model',
           'build_tensorrt_engine', 'custom_operators', 'deploy', 'export_onnx', 'operator_counts',
           'tensorrt_unavailable_reason', 'verify']
