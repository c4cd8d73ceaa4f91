_base_ = './segmentation_openvino_dynamic.py'

backend_config = dict(precision='bf16')
