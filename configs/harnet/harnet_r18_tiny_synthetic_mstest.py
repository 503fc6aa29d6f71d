# CPU-sized stand-in for the HAR-Net Table IV "HA w ms" row: the
# harnet_r18_tiny_synthetic.py model (same weights) tested on the generated
# shapes at 256 px (the training scale) and 512 px, output maps merged as in
# Sec. IV-B / Fig. 6, plus 192 px (x0.75) combined at the detection level.
_base_ = ['./harnet_r18_tiny_synthetic.py']

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    type='HARMultiScaleRetinaNet',
    test_cfg=dict(
        multi_scale=dict(
            scale_factors=[1.0, 2.0],
            extra_scale_factors=[0.75],
            cls_merge='prob')))
