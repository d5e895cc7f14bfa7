# The paper-scale TR-TTT model with the released code's backbone: a
# torchvision-style ResNet-50 (mmseg's ResNet, style 'pytorch': the 7x7 stem
# and the names of torchvision) initialised from torchvision's ImageNet
# weights through mmengine's Pretrained init. Nothing is downloaded: put the
# file where the torch hub cache expects it
#   ~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth
# ($TORCH_HOME/hub/checkpoints; training stops with this path in the error
# when the file is missing), or point the init at a local copy:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet50.pth
# (model.backbone.init_cfg=None starts from random weights). The test tool
# does not initialise weights, so testing a checkpoint needs no file.
_base_ = ['./trttt_r50.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
