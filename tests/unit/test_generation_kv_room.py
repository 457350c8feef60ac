"""The KV cache with spare columns: decode steps write in place, and attention sees the same cache."""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicSlidingWindowLayer

from genlab.generation import kv_room
from genlab.generation.kv_room import RoomyLayer, with_room


def _prefill(model, rows: int = 3, width: int = 7):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (rows, width), generator=gen)
    return model(input_ids=ids, use_cache=True)


def _step(model, cache, width: int, token: torch.Tensor):
    pos = torch.full((token.shape[0], 1), width)
    return model(input_ids=token, position_ids=pos, cache=cache, use_cache=True)


def test_decode_steps_write_in_place_and_give_the_plain_cache_logits(tiny_causal):
    model = tiny_causal.model
    steps = kv_room.ROOM + 9  # past the first buffer's room: one reallocation on the way
    with torch.inference_mode():
        plain, roomy = _prefill(model).cache, with_room(_prefill(model).cache)
        assert all(isinstance(layer, RoomyLayer) for layer in roomy.layers)
        gen = torch.Generator().manual_seed(1)
        buffers = []
        for t in range(steps):
            token = torch.randint(3, model.config.vocab_size, (3, 1), generator=gen)
            want = _step(model, plain, 7 + t, token).logits
            got = _step(model, roomy, 7 + t, token).logits
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
            buffers.append(roomy.layers[0].keys.data_ptr())
        assert roomy.get_seq_length() == plain.get_seq_length() == 7 + steps
    # first step allocates, then the same storage until the room runs out, then one new buffer
    assert len(set(buffers)) == 2
    assert buffers[1:kv_room.ROOM + 1] == [buffers[0]] * kv_room.ROOM


def test_replaced_keys_move_to_a_new_buffer(tiny_causal):
    """Rows leaving a batch replace ``keys``/``values`` (``Batch.keep``): the next step copies, then stays in place."""
    model = tiny_causal.model
    token = torch.tensor([[5], [6]])
    with torch.inference_mode():
        plain, roomy = _prefill(model).cache, with_room(_prefill(model).cache)
        for cache in (plain, roomy):
            _step(model, cache, 7, torch.tensor([[4], [4], [4]]))
            cache.batch_select_indices(torch.tensor([0, 2]))
        first = _step(model, roomy, 8, token).logits
        torch.testing.assert_close(first, _step(model, plain, 8, token).logits, rtol=1e-5, atol=1e-5)
        layer = roomy.layers[0]
        before = layer.keys.data_ptr()
        _step(model, roomy, 9, token)
        _step(model, plain, 9, token)
        assert layer.keys.data_ptr() == before and layer.keys.shape[0] == 2
        torch.testing.assert_close(layer.keys, plain.layers[0].keys)
        assert layer.allocated_bytes() > layer.keys.numel() * layer.keys.element_size() * 2  # the spare room counts


def test_other_layer_kinds_are_left_alone():
    cache = DynamicCache()
    sliding = DynamicSlidingWindowLayer(sliding_window=4)
    sliding.lazy_initialization(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4))
    cache.layers = [sliding]
    assert with_room(cache).layers[0] is sliding
    assert with_room(None) is None
