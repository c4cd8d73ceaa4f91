_base_ = '../_base_/hgnetv2_in1k_3rdparty-ssld-stage2.py'

model = dict(backbone=dict(arch='B5'), head=dict(arch='B5'))
load_from = 'paddleclas://B5/ssld_stage2'
