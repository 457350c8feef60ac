"""Pruning on tiny random models: Wanda scores by hand, masks, 2:4, sparsity after save/load, MLP channels."""

from __future__ import annotations

import copy

import pytest
import torch

from genlab.errors import ConfigError, GenlabError

IDS = torch.tensor([[5, 17, 99, 230, 41, 7, 300, 12]])
TEXTS = ["The cat sat on the mat. The dog sat on the log.", "Customer: my order 12345 arrived late.",
         "Question: what is two plus two? Answer: four."]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    return tmp_path


def _fresh(tiny_causal):
    from genlab.models import LoadedModel

    lm = tiny_causal
    return LoadedModel(lm.name, copy.deepcopy(lm.model), lm.tokenizer, lm.kind, lm.model_hash, lm.path, lm.source)


def test_wanda_scores_and_row_masks_by_hand():
    from genlab.deploy.prune import keep_mask, wanda_scores

    w = torch.tensor([[1.0, -2.0, 3.0, -4.0], [-0.5, 0.1, 0.2, 8.0]])
    x_norm = torch.tensor([4.0, 1.0, 0.5, 0.1])
    s = wanda_scores(w, x_norm)
    assert torch.allclose(s, torch.tensor([[4.0, 2.0, 1.5, 0.4], [2.0, 0.1, 0.1, 0.8]]))
    # per row, drop the 2 lowest scores: Wanda keeps w[0,0], w[0,1] although |w[0,3]| is the largest
    assert keep_mask(s, 0.5, "unstructured", per_row=True).tolist() == [[True, True, False, False],
                                                                        [True, False, False, True]]
    # magnitude over the whole layer: the 4 smallest |w| go, whatever their row
    assert keep_mask(w.abs(), 0.5, "unstructured", per_row=False).tolist() == [[False, True, True, True],
                                                                              [False, False, False, True]]
    m24 = keep_mask(torch.tensor([[1.0, 4.0, 2.0, 3.0, 9.0, 0.0, 1.0, 8.0]]), 0.5, "2:4", per_row=True)
    assert m24.tolist() == [[False, True, False, True, True, False, False, True]]


def test_activation_norms_equal_the_inputs_norm(tiny_causal):
    """‖X_j‖₂ over every calibration token, from the hooks, equals the norm of the captured inputs."""
    from genlab.deploy.prune import activation_norms

    lm = _fresh(tiny_causal)
    mod = lm.model.model.layers[1].mlp.down_proj
    seen = []
    h = mod.register_forward_hook(lambda m, a, o: seen.append(a[0].detach().reshape(-1, a[0].shape[-1])))
    norms = activation_norms(lm, {"down": mod}, TEXTS, max_length=64)
    h.remove()
    assert torch.allclose(norms["down"], torch.cat(seen).norm(dim=0), rtol=1e-5)


@pytest.mark.parametrize("method,pattern", [("wanda", "unstructured"), ("magnitude", "unstructured"),
                                            ("wanda", "2:4")])
def test_pruned_sparsity_survives_save_and_load(tiny_causal, home, method, pattern):
    from genlab.deploy import PruneConfig, prune
    from genlab.deploy.calibration import linear_layers as targets
    from genlab.deploy.prune import sparsity
    from genlab.deploy.storage import save_model
    from genlab.models import load

    lm = prune(_fresh(tiny_causal), PruneConfig(method=method, sparsity=0.5, pattern=pattern), texts=TEXTS)
    assert sparsity(lm.model) == pytest.approx(0.5, abs=1e-3)
    out = save_model(lm, home / "pruned", {"technique": "prune"})
    back = load(str(out), precision="fp32")
    before, after = targets(lm.model, ["lm_head"]), targets(back.model, ["lm_head"])
    for name in before:
        assert torch.equal(before[name].weight == 0, after[name].weight == 0), name
    if pattern == "2:4":
        w = after["model.layers.0.self_attn.q_proj"].weight
        assert ((w.reshape(w.shape[0], -1, 4) != 0).sum(-1) <= 2).all()
    assert torch.equal(back.model.lm_head.weight, tiny_causal.model.lm_head.weight)  # lm_head left dense


def test_bad_sparsity_and_patterns_are_refused():
    from genlab.deploy import PruneConfig

    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match=r"\[0, 1\)"):
            PruneConfig(sparsity=bad)
    with pytest.raises(ConfigError, match="2:4"):
        PruneConfig(pattern="2:4", sparsity=0.7)
    with pytest.raises(ConfigError, match="wanda"):
        PruneConfig(method="random")


def test_mlp_channel_pruning_shrinks_and_reloads(tiny_causal, home):
    from genlab.deploy import prune_mlp_channels
    from genlab.deploy.storage import save_model
    from genlab.models import load

    same = prune_mlp_channels(_fresh(tiny_causal), 0.0, texts=TEXTS)
    with torch.no_grad():
        assert torch.allclose(same.model(IDS).logits, tiny_causal.model(IDS).logits, atol=1e-6)
    lm = prune_mlp_channels(_fresh(tiny_causal), 0.5, texts=TEXTS)
    assert lm.model.model.layers[0].mlp.up_proj.weight.shape == (32, 32)
    assert lm.model.model.layers[0].mlp.down_proj.weight.shape == (32, 32)
    back = load(str(save_model(lm, home / "ch", {"technique": "prune"})), precision="fp32")
    assert back.model.config.intermediate_size == 32
    with torch.no_grad():
        assert torch.equal(back.model(IDS).logits, lm.model(IDS).logits)
    with pytest.raises(ConfigError):
        prune_mlp_channels(_fresh(tiny_causal), 1.0, texts=TEXTS)


def test_pruning_an_int8_model_is_refused(tiny_causal):
    from genlab.deploy import prune, quantize

    with pytest.raises(GenlabError, match="int8"):
        prune(quantize(_fresh(tiny_causal)), texts=TEXTS)
