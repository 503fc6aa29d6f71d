# Table IX, row S4: 1.4k strong + 9k weak with the selection loss
# (SF >= 0.55 on the weak part), no attention loss. Paper: 65.7 mIoU.
_base_ = ['./salnet-s5_vgg16-asppl_1xb7-27k_voc12semi-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None, attention_guided=False, loss_attention=None))
