# The ONNX export every deploy config shares (mmdeploy's `onnx_config`). Opset 11 is what mmdeploy 1.3.1's
# rewriters are written for (TensorRT 10's ONNX parser reads opsets 9-20). `optimize` stays off: mmdeploy's
# graph optimiser hooks into torch.onnx internals that torch >= 2.9 moved.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=False)
