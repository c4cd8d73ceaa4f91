_base_ = './classification_openvino_dynamic.py'

backend_config = dict(precision='bf16')
