_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B4'), head=dict(arch='B4'))
load_from = 'paddleclas://B4/ssld_stage2'
