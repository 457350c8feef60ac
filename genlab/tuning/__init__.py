"""Fine-tuning: one visible training loop, methods registered by name, adapters at inference."""

from genlab.tuning.config import TrainConfig
from genlab.tuning.loop import train
from genlab.tuning.run import TrainResult

__all__ = ["TrainConfig", "TrainResult", "train"]
