_base_ = ['./onnx_config.py']

# The exported graph ends in an argmax over classes: `output` is the label map at the input's size.
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
onnx_config = dict(output_names=['output'])
