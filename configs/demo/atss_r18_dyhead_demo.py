# DyHead on ATSS, demo size (issue 15 item 4): the comparison for
# ./harnet_atss_r18_demo.py. As in mmdet::dyhead/atss_r50_fpn_dyhead_1x_coco.py
# (and ../harnet/atss_r50_fpn_dyhead_1x_coco.py), six DyHead blocks after
# the FPN and an ATSS head without tower convs, at the demo's 64 channels.
# Baseline: ./atss_r18_demo.py; the FPN is that config's, unchanged
# (add_extra_convs='on_input', where mmdet's DyHead config has 'on_output'),
# so the two differ only in the DyHead blocks replacing the head's tower.
_base_ = ['./atss_r18_demo.py']

model = dict(
    neck=[
        dict(
            type='FPN',
            in_channels=[64, 128, 256, 512],
            out_channels=64,
            start_level=1,
            add_extra_convs='on_input',
            num_outs=5),
        # DyDCNv2's GN has 16 groups: 64 channels divide.
        dict(type='DyHead', in_channels=64, out_channels=64, num_blocks=6)
    ],
    bbox_head=dict(stacked_convs=0))
