_base_ = './detection_tensorrt_dynamic-320x320-1344x1344.py'

backend_config = dict(common_config=dict(fp16_mode=True))
