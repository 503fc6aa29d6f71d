# Table VI, row VGG16, column P3: coarse selection loss (SC >= 0.55,
# Table IV: 7535 images), no attention loss. Paper: 60.2 (57.6) mIoU.
_base_ = ['./salnet-p5_vgg16-asppl_1xb7-27k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(score_key='SC', tau=0.55)))
# Coarse scoring alone leaves P and SF null in the score file.
train_dataloader = dict(dataset=dict(required_scores=('SC', )))
