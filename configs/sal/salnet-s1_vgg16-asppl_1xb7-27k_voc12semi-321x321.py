# Table IX, row S1: 1.4k strong only, plain cross entropy (fully supervised
# DeepLab-v2 VGG16 baseline on VOC12 train). Paper: 62.8 mIoU.
_base_ = ['./salnet-s2_vgg16-asppl_1xb7-27k_voc12semi-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        cls_branch=None, attention_guided=False, loss_attention=None))
