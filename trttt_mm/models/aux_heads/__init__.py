"""Source-time auxiliary heads (a method's own branch of the segmentor)."""
from .base import SOURCES, BaseAuxHead  # noqa: F401
from .task_relation_head import TaskRelationHead  # noqa: F401
from .feature_stats_head import FeatureStatsHead  # noqa: F401
from .actmad_stats_head import ActMADStatsHead  # noqa: F401
from .rotation_head import RotationHead  # noqa: F401
from .contrastive_head import ContrastiveProjectionHead  # noqa: F401
from .flow_head import FlowHead  # noqa: F401
from .cluster_head import ClusterHead  # noqa: F401
from .noise_contrast_head import NoiseContrastHead  # noqa: F401
