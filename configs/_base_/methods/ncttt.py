# NC-TTT at paper scale: the source model of ./source_only.py (the same
# source budget as TR-TTT) plus the noise-contrast head `ncttt`
# (NoiseContrastHead: a 1x1 projector on layer2 and a discriminator of noisy
# copies, trained with the multi-task losses). Test-time defaults:
# cfg.ttt.NCTTTHook (../ttt/ttt_defaults.py). A config adds a setting
# (../settings/).
_base_ = ['./source_only.py']
model = dict(
    aux_heads=dict(
        ncttt=dict(
            type='NoiseContrastHead',
            in_index=1,  # ResNet layer2 (official CIFAR setting)
            embed_channels=1536,
            hidden_channels=4,
            sigma_high=0.1,
            sigma_low=0.015,
            loss_weight=1.0)))
