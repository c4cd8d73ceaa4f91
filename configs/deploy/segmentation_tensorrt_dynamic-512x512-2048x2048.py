_base_ = ['./_base_/segmentation_dynamic.py', './_base_/backends/tensorrt.py']

backend_config = dict(model_inputs=[
    dict(input_shapes=dict(input=dict(
        min_shape=[1, 3, 512, 512], opt_shape=[1, 3, 1024, 2048], max_shape=[1, 3, 2048, 2048])))
])
