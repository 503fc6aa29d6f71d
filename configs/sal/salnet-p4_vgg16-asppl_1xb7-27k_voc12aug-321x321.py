# Table VI, row VGG16, column P4: refined selection loss (SF >= 0.55,
# Table IV: 7586 images), no attention loss. Paper: 60.9 (58.0) mIoU.
_base_ = ['./salnet-p5_vgg16-asppl_1xb7-27k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(score_key='SF', tau=0.55)))
