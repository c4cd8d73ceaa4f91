_base_ = '../_base_/hgnetv2_in1k.py'

model = dict(backbone=dict(arch='B1'), head=dict(arch='B1'))
