"""Computations behind ``genlab inspect``; plotting lives in ``plots.py``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlab.errors import GenlabError
from genlab.generation.sampling import filter_logits


@dataclass
class NextTokenRow:
    token: str
    token_id: int
    logit: float
    p_raw: float  # softmax(z), temperature 1
    p_temp: float  # softmax(z / T)
    in_top_k: bool
    in_top_p: bool
    p_final: float  # renormalized over survivors: what sampling draws from


def token_strings(tokenizer, ids) -> list[str]:
    """Readable token pieces (byte-level BPE 'Ġ' shown as a space)."""
    return [tokenizer.decode([int(i)]) for i in ids]


def _encode(lm, text: str) -> dict:
    if not text.strip():
        raise GenlabError("the text to inspect is empty", hint='pass a sentence, e.g. "The cat sat on the"')
    return lm.tokenizer(text, return_tensors="pt").to(lm.device)


@torch.inference_mode()
def next_token_table(lm, text: str, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                     show: int = 15) -> list[NextTokenRow]:
    """The ``show`` most likely next tokens and what temperature/top-k/top-p do to them."""
    if lm.kind != "causal":
        raise GenlabError(f"next-token inspection needs a decoder-only model; {lm.name} is {lm.kind}")
    if temperature <= 0:
        raise GenlabError("temperature must be > 0", hint="temperature 1 shows the model's own distribution")
    logits = lm.model(**_encode(lm, text)).logits[0, -1].float()  # (V,)
    filtered, keep_k, keep_p = filter_logits(logits, temperature, top_k, top_p)
    p_raw, p_temp, p_final = logits.softmax(-1), (logits / temperature).softmax(-1), filtered.softmax(-1)
    top = torch.topk(logits, show).indices
    names = token_strings(lm.tokenizer, top)
    return [NextTokenRow(names[j], int(i), float(logits[i]), float(p_raw[i]), float(p_temp[i]),
                         bool(keep_k[i]), bool(keep_p[i]), float(p_final[i])) for j, i in enumerate(top)]


@torch.inference_mode()
def attention_map(lm, text: str, *, layer: int = -1, head: int | None = None):
    """Self-attention weights (T, T) for one layer, one head or the mean over heads.

    Returns (weights, tokens, n_layers, n_heads). Uses eager attention, since fused
    kernels do not return weights.
    """
    model = lm.model
    previous = getattr(model.config, "_attn_implementation", None)
    model.set_attn_implementation("eager")
    try:
        enc = _encode(lm, text)
        kwargs = {"decoder_input_ids": enc["input_ids"][:, :1]} if lm.kind == "seq2seq" else {}
        out = model(**enc, output_attentions=True, **kwargs)
    finally:
        if previous:
            model.set_attn_implementation(previous)
    attentions = out.encoder_attentions if lm.kind == "seq2seq" else out.attentions  # L x (1, H, T, T)
    n_layers, n_heads = len(attentions), attentions[0].shape[1]
    if not -n_layers <= layer < n_layers:
        raise GenlabError(f"layer {layer} does not exist; the model has {n_layers} layers (0..{n_layers - 1})")
    a = attentions[layer][0].float()  # (H, T, T)
    if head is not None and not 0 <= head < n_heads:
        raise GenlabError(f"head {head} does not exist; each layer has {n_heads} heads (0..{n_heads - 1})")
    weights = a.mean(0) if head is None else a[head]
    return weights.cpu(), token_strings(lm.tokenizer, enc["input_ids"][0]), n_layers, n_heads


@torch.inference_mode()
def embedding_similarity(lm, words: list[str], *, source: str = "auto"):
    """Cosine similarity between word vectors. Returns (S (n, n), source used).

    ``embedding``: the input embedding table, averaged over a word's sub-word tokens
    (step 2 of the transformer in the course notes). ``hidden``: the mean of the last
    hidden states (sentence-transformers pooling; the default for encoders).
    """
    if len(words) < 2:
        raise GenlabError("give at least two words to compare")
    if source == "auto":
        source = "hidden" if lm.kind == "encoder" else "embedding"
    if source not in ("embedding", "hidden"):
        raise GenlabError(f"source must be embedding or hidden, not {source!r}")
    vectors = torch.stack([_vector(lm, w, source) for w in words])  # (n, d)
    v = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return (v @ v.T).cpu(), source


def _vector(lm, word: str, source: str) -> torch.Tensor:
    tok = lm.tokenizer
    if source == "embedding":
        ids = tok(word, add_special_tokens=False, return_tensors="pt")["input_ids"].to(lm.device)
        return lm.model.get_input_embeddings()(ids)[0].mean(0)
    enc = tok(word, return_tensors="pt").to(lm.device)
    model = lm.model.get_encoder() if lm.kind == "seq2seq" else lm.model
    out = model(**enc, output_hidden_states=True)
    hidden = out.hidden_states[-1][0]  # (T, d)
    mask = enc["attention_mask"][0].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(0) / mask.sum()
