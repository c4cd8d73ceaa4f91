_base_ = './classification_tensorrt_dynamic-224x224-224x224.py'

backend_config = dict(common_config=dict(fp16_mode=True))
