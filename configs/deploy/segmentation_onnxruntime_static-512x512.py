_base_ = ['./_base_/segmentation.py', './_base_/backends/onnxruntime.py']

onnx_config = dict(input_shape=[512, 512])
