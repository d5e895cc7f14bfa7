from .multi_task_encoder_decoder import MultiTaskEncoderDecoder  # noqa: F401
