# SAL-Net-VGG16 = Table VI, row VGG16, column P5 (refined selection loss on
# SF with tau = 0.55 + attention loss, lambda = 2); also Table II/III
# "SAL-Net-VGG16". Paper: 61.3 mIoU val with MS + CRF, 58.4 without.
_base_ = [
    './_base_/models/salnet_vgg16-asppl.py',
    './_base_/datasets/voc12aug_weak-321x321.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/poly_sgd.py',
]
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
# Paper Sec. IV-A: blr = 1e-3 and maxiter = 27000 for VGG16.
max_iters = 27000
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters)
