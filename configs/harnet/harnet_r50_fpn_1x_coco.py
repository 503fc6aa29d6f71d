# HAR-Net Table IV, ResNet-50, "HA" (HAR-Net, 38.9 AP single scale; 800 px):
# AA on C4/C5 + CLGN + spatial attention (1-2-5-2-1, C=16) + extra conv +
# CLSE, i.e. Fig. 5. The "HA w ms" column (40.9) is multi-scale testing.
_base_ = ['./harnet_aa-ca_r50_fpn_1x_coco.py']

model = dict(
    bbox_head=dict(
        spatial_attention={{_base_.spatial_attention}}))
