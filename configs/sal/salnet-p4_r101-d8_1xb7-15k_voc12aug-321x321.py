# Table VI, row ResNet101, column P4: refined selection loss (SF >= 0.85,
# Table IV: 3303 images), no attention loss. Paper: 65.8 (64.9) mIoU.
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(score_key='SF', tau=0.85)))
