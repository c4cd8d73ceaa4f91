_base_ = '../_base_/hgnetv2_in1k_ssld-stage1-pre.py'

model = dict(backbone=dict(arch='B5'), head=dict(arch='B5'))
