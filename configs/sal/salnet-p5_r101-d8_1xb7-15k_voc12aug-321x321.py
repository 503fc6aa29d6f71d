# SAL-Net-ResNet101 = Table VI, row ResNet101, column P5 (refined selection
# loss on SF with tau = 0.85 + attention loss, lambda = 2); also Table II/III
# "SAL-Net-ResNet101". Paper: 66.1 mIoU val with MS + CRF, 65.5 without.
_base_ = [
    './_base_/models/salnet_r101-d8.py',
    './_base_/datasets/voc12aug_weak-321x321.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/poly_sgd.py',
]
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
