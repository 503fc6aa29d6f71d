# Table VI, row VGG16, column P2: retraining on all proxy annotations with
# plain cross entropy (Eq. 2), no selection, no attention loss.
# Paper: 59.1 (56.2) mIoU.
_base_ = ['./salnet-p5_vgg16-asppl_1xb7-27k_voc12aug-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None,
        attention_guided=False,
        loss_attention=None,
        loss_decode=dict(weighting='none')))
# No scores are needed; tags are still loaded (harmless, checks the file).
train_dataloader = dict(dataset=dict(score_file=None))
