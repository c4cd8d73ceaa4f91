_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B2'), head=dict(arch='B2'))
load_from = 'paddleclas://B2/ssld_stage2'
