_base_ = '../_base_/hgnetv2_in1k_ssld-stage1-pre.py'

model = dict(backbone=dict(arch='B0'), head=dict(arch='B0'))
