_base_ = '../_base_/hgnetv2_in1k_ssld-stage1-pre.py'

model = dict(backbone=dict(arch='B4'), head=dict(arch='B4'))
