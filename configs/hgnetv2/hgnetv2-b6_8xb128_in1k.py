_base_ = '../_base_/hgnetv2_in1k.py'

model = dict(backbone=dict(arch='B6'), head=dict(arch='B6'))
