_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B1'), head=dict(arch='B1'))
load_from = 'paddleclas://B1/ssld_stage2'
