_base_ = ['./onnx_config.py']

codebase_config = dict(type='mmpretrain', task='Classification')
onnx_config = dict(output_names=['output'])
