# Table VI, row ResNet101, column P2: retraining on all proxy annotations
# with plain cross entropy (Eq. 2), no selection, no attention loss.
# Paper: 62.2 (61.5) mIoU.
_base_ = ['./salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(weighting='none')))
# No scores are needed; tags are still loaded (harmless, checks the file).
train_dataloader = dict(dataset=dict(score_file=None))
