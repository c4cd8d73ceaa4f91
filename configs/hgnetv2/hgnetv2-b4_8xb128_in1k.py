_base_ = '../_base_/hgnetv2_in1k.py'

model = dict(backbone=dict(arch='B4'), head=dict(arch='B4'))
