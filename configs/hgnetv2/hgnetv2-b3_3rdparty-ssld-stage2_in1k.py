_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B3'), head=dict(arch='B3'))
load_from = 'paddleclas://B3/ssld_stage2'
