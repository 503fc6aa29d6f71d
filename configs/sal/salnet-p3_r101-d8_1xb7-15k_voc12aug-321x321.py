# Table VI, row ResNet101, column P3: coarse selection loss (SC >= 0.8,
# Table IV: 3638 images), no attention loss. Paper: 64.9 (64.1) mIoU.
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(score_key='SC', tau=0.8)))
# Coarse scoring alone leaves P and SF null in the score file.
train_dataloader = dict(dataset=dict(required_scores=('SC', )))
