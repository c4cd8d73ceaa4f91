_base_ = '../_base_/hgnetv2_in1k.py'

model = dict(backbone=dict(arch='B3'), head=dict(arch='B3'))
