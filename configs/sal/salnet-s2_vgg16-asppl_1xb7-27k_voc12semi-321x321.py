# Table IX, row S2: 1.4k strong only, with the attention loss (tags read off
# the ground truth; every image has w_i = 1). Paper: 63.2 mIoU.
_base_ = ['./salnet-s5_vgg16-asppl_1xb7-27k_voc12semi-321x321.py']
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
model = dict(decode_head=dict(loss_decode=dict(weighting='none')))
train_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.strong_train_dataset))
