_base_ = './detection_openvino_dynamic.py'

backend_config = dict(precision='bf16')
