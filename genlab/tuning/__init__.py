"""Fine-tuning: one visible training loop, methods registered by name.

    tune(model, task, method, method_cfg, TrainConfig(...), out_dir)  # the whole run
    train(model, tokenizer, kind, train_set, val_set, cfg, out_dir)   # the loop alone

Loading, switching and merging the adapters it writes: ``genlab.adapters``.
"""

from genlab.tuning.api import TuneResult, tune
from genlab.tuning.config import TrainConfig
from genlab.tuning.loop import train
from genlab.tuning.methods import METHODS, param_report
from genlab.tuning.run import TrainResult

__all__ = ["METHODS", "TrainConfig", "TrainResult", "TuneResult", "param_report", "train", "tune"]
