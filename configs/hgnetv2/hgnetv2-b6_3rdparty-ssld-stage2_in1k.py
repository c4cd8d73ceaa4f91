_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B6'), head=dict(arch='B6'))
load_from = 'paddleclas://B6/ssld_stage2'
