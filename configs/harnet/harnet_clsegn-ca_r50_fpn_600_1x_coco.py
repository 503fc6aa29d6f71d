# HAR-Net Table II, ResNet-50, "CLSEGN-CA" (37.1 AP): CLSE-CA plus
# cross-level group normalisation (32 groups, scaling shared across levels)
# after every tower conv: the channel attention of Sec. III-B (600 px).
_base_ = ['./harnet_clse-ca_r50_fpn_600_1x_coco.py']

model = dict(
    bbox_head=dict(
        norm_cfg=dict(
            _delete_=True, type='GN', num_groups=32, requires_grad=True),
        cross_level_norm={{_base_.cross_level_norm}}))
