# ClusT3 at paper scale: the source model of ./source_only.py (the same
# source budget as TR-TTT) plus the cluster head `clust3` (ClusterHead: 1x1
# projectors to K clusters on layer1 and layer2, trained with the multi-task
# losses, lambda = 1). Test-time defaults: cfg.ttt.ClusT3Hook
# (../ttt/ttt_defaults.py). A config adds a setting (../settings/).
_base_ = ['./source_only.py']
model = dict(
    aux_heads=dict(
        clust3=dict(
            type='ClusterHead',
            in_indices=(0, 1),  # ResNet layer1 + layer2 (official best)
            num_clusters=10,
            num_projectors=15,
            marginal='probs',
            marginal_over='batch',
            loss_weight=1.0)))
