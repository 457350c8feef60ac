"""``adapter``: bottleneck adapters (Houlsby et al. 2019, https://arxiv.org/abs/1902.00751).

The modules, their hooks and their file format live in ``genlab.adapters.bottleneck``
(inference needs them without the trainer); training only freezes the base and
inserts an adapter whose up-projection starts at zero.
"""

from __future__ import annotations

from genlab.adapters.bottleneck import BottleneckConfig, add_adapter
from genlab.tuning.methods import freeze, register


@register("adapter", BottleneckConfig)
def apply(model, cfg: BottleneckConfig, tokenizer=None):
    """Bottleneck adapters after attention and feed-forward sublayers."""
    freeze(model)
    add_adapter(model, cfg)
    return model
