from .masking import (MASK_COUNTS, MASK_STRATEGIES, check_mask_args,
                      generate_mask, masked_per_task, masked_tasks,
                      num_masked_tokens)
from .task_relation_learner import (DECODER_TOKENS, POS_EMBED_LAYOUTS,
                                    TOKEN_LAYOUTS, TaskRelationLearner,
                                    count_parameters, sincos_pos_embed_2d)

__all__ = [
    'DECODER_TOKENS', 'MASK_COUNTS', 'MASK_STRATEGIES', 'POS_EMBED_LAYOUTS',
    'TOKEN_LAYOUTS', 'TaskRelationLearner', 'check_mask_args',
    'count_parameters', 'generate_mask', 'masked_per_task', 'masked_tasks',
    'num_masked_tokens', 'sincos_pos_embed_2d'
]
