"""Fine-tuning: one visible training loop, methods registered by name, adapters at inference.

    tune(model, task, method, method_cfg, TrainConfig(...), out_dir)  # the whole run
    train(model, tokenizer, kind, train_set, val_set, cfg, out_dir)   # the loop alone
    load_adapter(lm, path, name) / set_adapter(lm, name) / merge(path, out)
"""

from genlab.tuning.adapters import active_adapter, load_adapter, merge, save_adapter, set_adapter
from genlab.tuning.api import TuneResult, tune
from genlab.tuning.config import TrainConfig
from genlab.tuning.loop import train
from genlab.tuning.methods import METHODS, param_report
from genlab.tuning.run import TrainResult

__all__ = ["METHODS", "TrainConfig", "TrainResult", "TuneResult", "active_adapter", "load_adapter", "merge",
           "param_report", "save_adapter", "set_adapter", "train", "tune"]
