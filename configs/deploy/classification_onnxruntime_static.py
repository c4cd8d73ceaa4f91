_base_ = ['./_base_/classification.py', './_base_/backends/onnxruntime.py']

onnx_config = dict(input_shape=[224, 224])
