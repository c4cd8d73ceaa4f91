# TensorRT >= 10 engines, built by hgnet_backbones.deploy from the same standard-op ONNX that ONNX Runtime
# verifies (no mmdeploy plugin library). Each config adds `model_inputs`: the optimisation profile.
backend_config = dict(
    type='tensorrt', common_config=dict(fp16_mode=False, max_workspace_size=1 << 30))
