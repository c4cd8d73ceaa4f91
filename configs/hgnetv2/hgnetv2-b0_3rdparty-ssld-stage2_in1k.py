_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B0'), head=dict(arch='B0'))
load_from = 'paddleclas://B0/ssld_stage2'
