_base_ = ['./_base_/detection_dynamic.py', './_base_/backends/tensorrt.py']

backend_config = dict(model_inputs=[
    dict(input_shapes=dict(input=dict(
        min_shape=[1, 3, 320, 320], opt_shape=[1, 3, 800, 1344], max_shape=[1, 3, 1344, 1344])))
])
# TensorRT's TopK takes k <= 3840 (mmdeploy.utils.constants.TENSORRT_MAX_TOPK)
codebase_config = dict(post_processing=dict(pre_top_k=3840))
