"""A KV cache that writes each decode step in place instead of re-concatenating the whole cache.

transformers' ``DynamicLayer.update`` does ``keys = cat([keys, new])``: every decode step copies every
layer's keys and values. At 16 rows x 250 cached positions on SmolLM2-135M that is ~190 MB a step, and
``aten::cat`` took 22% of the decode time on the 2-core Xeon. ``with_room(cache)`` swaps each plain
``DynamicLayer`` for a ``RoomyLayer``, whose keys and values are views on buffers with spare columns:
a step writes its column into the room and widens the view; only when the room runs out (every
``ROOM`` steps) or when someone replaced ``keys``/``values`` (rows joining or leaving a batch) is the
cache copied into a new buffer. What attention sees is the same tensor values, so outputs do not change.

    buffer   (B, kv_heads, L + room, head_dim)
    keys     buffer[:, :, :L]            (a view: same storage, same strides)
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer

ROOM = 64  # spare columns a buffer gets when (re)allocated


class RoomyLayer(DynamicLayer):
    _layer_type = None  # never registered in transformers' layer-type mapping

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.device, self.is_initialized = keys.device, True
        self.keys, self.values = keys, values
        self._k = self._v = None  # the buffers ``keys``/``values`` view, once a step has written

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n, m = self.keys.shape[-2], key_states.shape[-2]
        if not self._views_own_buffer(n + m):
            self._k, self._v = _with_spare(self.keys, m + ROOM), _with_spare(self.values, m + ROOM)
        self._k[:, :, n:n + m].copy_(key_states)
        self._v[:, :, n:n + m].copy_(value_states)
        self.keys, self.values = self._k[:, :, :n + m], self._v[:, :, :n + m]
        return self.keys, self.values

    def _views_own_buffer(self, width: int) -> bool:
        """Whether ``keys``/``values`` still view this layer's buffers (nobody replaced them) and ``width`` fits."""
        k, v = self._k, self._v
        return (k is not None and width <= k.shape[2]
                and self.keys.data_ptr() == k.data_ptr() and self.values.data_ptr() == v.data_ptr()
                and self.keys.shape[:2] == k.shape[:2] and self.keys.stride() == k.stride())

    def allocated_bytes(self) -> int:
        held = (self._k, self._v) if self._views_own_buffer(self.keys.shape[-2]) else (self.keys, self.values)
        return sum(t.numel() * t.element_size() for t in held)


def with_room(cache):
    """``cache`` (a transformers ``DynamicCache``) with each plain ``DynamicLayer`` made a ``RoomyLayer``;
    other layer kinds (sliding window, quantized, linear attention) are left as they are."""
    if cache is not None:
        cache.layers = [RoomyLayer(layer.keys, layer.values)
                        if type(layer) is DynamicLayer and layer.is_initialized else layer
                        for layer in cache.layers]
    return cache


def _with_spare(t: torch.Tensor, spare: int) -> torch.Tensor:
    """A new (B, H, L + spare, D) buffer whose first L columns are ``t``."""
    b, h, n, d = t.shape
    buf = t.new_empty((b, h, n + spare, d))
    buf[:, :, :n].copy_(t)
    return buf
