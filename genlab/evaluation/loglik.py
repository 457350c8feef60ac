"""Log-likelihood scoring: multiple choice and rolling (perplexity), causal and seq2seq.

The contract mirrors lm-evaluation-harness' ``loglikelihood`` and
``loglikelihood_rolling``; tokenization follows lm-eval's ``_encode_pair`` (the
context's trailing whitespace moves onto the continuation, the pair is encoded
together and the continuation is what follows the context's tokens) so that
accuracies match lm-eval on the same model.

Multiple choice computes the shared prompt ONCE per example:

    pass 1  context (B, Lc), left-padded  -> KV cache + logits of the last position,
            which score every choice's first token (single-token choices need nothing more)
    pass 2  tokens 1.. of the longer choices (R, Lk), right-padded, after a copy of
            their example's cached context

so the cost is one context pass plus one short pass, not one full pass per choice.
For seq2seq the encoder runs once and its states are repeated for the C decodes.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import torch

from genlab.errors import GenlabError
from genlab.evaluation.metrics.accuracy import ChoiceScores
from genlab.evaluation.metrics.perplexity import RollingScore
from genlab.runtime import Precision, autocast

Progress = Callable[[int], None] | None
ROLLING_WINDOW = 2048  # tokens per rolling window: bounds the (L, vocab) logits of one pass (~400 MB at 49k vocab)


# -- tokenization ----------------------------------------------------------------
def _encode(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def prefix_token(tok) -> int:
    """The token that stands in for an empty context (lm-eval uses EOT/BOS)."""
    for tid in (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id):
        if tid is not None:
            return tid
    raise ValueError("the tokenizer has no BOS, EOS or pad token to start an empty context")


def encode_pair(tok, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval ``_encode_pair``: (context ids, continuation ids) for a causal model."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = _encode(tok, context + continuation)
    ctx = _encode(tok, context)
    cont = whole[len(ctx):]
    if not ctx:
        ctx = [prefix_token(tok)]
    return ctx, cont


def continuation_text(prompt: str, choice: str, delimiter: str) -> str:
    """lm-eval's ``target_delimiter + choice``."""
    return delimiter + choice


def forward_params(model) -> frozenset[str]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wrappers
    forward = base.forward
    return _params_of(getattr(forward, "__func__", forward))  # the function, not the bound method: no model ref


@functools.lru_cache(maxsize=64)
def _params_of(forward) -> frozenset[str]:
    """Read once per forward function: ``CausalLM.loss`` asks at every training step."""
    import inspect

    return frozenset(inspect.signature(forward).parameters)


def _cache_kwargs(model, cache) -> dict:
    """transformers 5 renamed ``past_key_values`` to ``cache``; accept either."""
    return {"cache" if "cache" in forward_params(model) else "past_key_values": cache}


def _last_logits_kwargs(model) -> dict:
    return {"logits_to_keep": 1} if "logits_to_keep" in forward_params(model) else {}


# -- multiple choice -------------------------------------------------------------
@torch.inference_mode()
def score_choices(lm, requests: Sequence, *, batch_size: int = 16, precision: Precision = "auto",
                  target_delimiter: str = " ", progress: Progress = None) -> list[ChoiceScores]:
    """Per-choice log-likelihoods for each request (``request.prompt``, ``request.choices``)."""
    for r in requests:
        if not r.choices:
            raise ValueError(f"request doc_id={r.doc_id} has no choices; multiple_choice needs them")
    if lm.kind not in ("causal", "seq2seq"):
        from genlab.evaluation.classifier import no_head_error

        raise no_head_error(lm)  # encoders score choices through a head (evaluation.classifier)
    if lm.kind == "causal":
        encoded = [encode_choices(lm, r, target_delimiter) for r in requests]
        scorer = _score_causal_batch
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i][0]))  # by tokens: little padding
    else:
        encoded = [None] * len(requests)
        scorer = _score_seq2seq_batch
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i].prompt))
    out: dict[int, ChoiceScores] = {}
    # one autocast region for all batches: autocast casts each fp32 weight to bf16 once, not once per batch
    with autocast(precision, lm.device):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            scores = scorer(lm, [requests[i] for i in idx], [encoded[i] for i in idx], target_delimiter)
            out.update(zip(idx, scores))
            if progress:
                progress(len(idx))
    return [out[i] for i in range(len(requests))]


def encode_choices(lm, req, delimiter: str) -> tuple[list[int], list[list[int]]]:
    """(context ids, one continuation id list per choice), the context cut to fit the window."""
    tok = lm.tokenizer
    # encode_pair tokenizes the context alone, so its ids are the same for every choice
    pairs = [encode_pair(tok, req.prompt, continuation_text(req.prompt, c, delimiter)) for c in req.choices]
    conts = [p[1] if p[1] else [prefix_token(tok)] for p in pairs]
    return _truncate(pairs[0][0], conts, lm.context_window), conts


def _truncate(ctx: list[int], conts: list[list[int]], max_len: int) -> list[int]:
    """Keep the end of the context so context + longest continuation fits the window."""
    room = max_len - max(len(c) for c in conts)
    return ctx[-max(room, 1):]


def _score_causal_batch(lm, reqs, encoded, delimiter: str) -> list[ChoiceScores]:
    tok, model, dev = lm.tokenizer, lm.model, lm.device
    ctxs, conts = [e[0] for e in encoded], [e[1] for e in encoded]
    B = len(reqs)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    # pass 1: contexts, left-padded; (B, Lc)
    Lc = max(map(len, ctxs))
    ctx_ids = torch.full((B, Lc), pad, dtype=torch.long)
    ctx_mask = torch.zeros((B, Lc), dtype=torch.long)
    for b, c in enumerate(ctxs):
        ctx_ids[b, Lc - len(c):] = torch.tensor(c)
        ctx_mask[b, Lc - len(c):] = 1
    pos = (ctx_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ctx_ids.to(dev), attention_mask=ctx_mask.to(dev), position_ids=pos.to(dev),
                use_cache=True, **_last_logits_kwargs(model))
    first = out.logits[:, -1].float().log_softmax(-1)  # (B, V): predicts each choice's first token

    # pass 2, only for choices longer than one token: their tokens 1.. continue the cached context
    rows = [(b, j) for b in range(B) for j, c in enumerate(conts[b]) if len(c) > 1]
    rest = _continue_choices(model, getattr(out, "cache", None) or out.past_key_values, ctx_mask, ctxs,
                             conts, rows, pad, dev) if rows else {}
    return [_gather_choices(reqs[b], conts[b], first[b], {j: rest[(b, j)] for j in range(len(conts[b]))
                                                          if (b, j) in rest}) for b in range(B)]


def _continue_choices(model, cache, ctx_mask, ctxs, conts, rows, pad: int, dev) -> dict:
    """Log-probs of choice tokens 1..L-1 for ``rows`` [(example, choice)], reusing the context cache.

    Input row r is ``cont[:-1]`` (right-padded) after example b's cached context; its
    output position t predicts ``cont[t + 1]``. Returns {(b, j): (L-1, V) log-probs}.
    """
    idx = torch.tensor([b for b, _ in rows])
    cache.batch_select_indices(idx.to(dev))  # (R, ...): one copy of the context per continuing choice
    Lk = max(len(conts[b][j]) for b, j in rows) - 1
    ids = torch.full((len(rows), Lk), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), Lk), dtype=torch.long)
    for r, (b, j) in enumerate(rows):
        c = conts[b][j][:-1]
        ids[r, :len(c)] = torch.tensor(c)
        mask[r, :len(c)] = 1
    lens = torch.tensor([len(ctxs[b]) for b, _ in rows])
    full_mask = torch.cat([ctx_mask[idx], mask], dim=1)
    logits = model(input_ids=ids.to(dev), attention_mask=full_mask.to(dev),
                   position_ids=(lens[:, None] + torch.arange(Lk)[None]).to(dev),
                   use_cache=False, **_cache_kwargs(model, cache)).logits.float().log_softmax(-1)  # (R, Lk, V)
    return {(b, j): logits[r, :len(conts[b][j]) - 1] for r, (b, j) in enumerate(rows)}


def _gather_choices(req, conts: list[list[int]], first: torch.Tensor, rest: dict) -> ChoiceScores:
    """Sum log p over each continuation's tokens. ``first``: (V,); ``rest[j]``: (len-1, V)."""
    lls, greedy = [], []
    for j, c in enumerate(conts):
        target = torch.tensor(c, device=first.device)
        step = torch.cat([first[None], rest[j]], dim=0) if j in rest else first[None]  # (len(c), V)
        lls.append(float(step.gather(-1, target[:, None]).sum()))
        greedy.append(bool((step.argmax(-1) == target).all()))
    return ChoiceScores(lls, list(req.choices), [len(c) for c in conts], greedy)


def _score_seq2seq_batch(lm, reqs, encoded, delimiter: str) -> list[ChoiceScores]:
    """Encoder once per example; decoder scores each choice as the target sequence."""
    tok, model, dev = lm.tokenizer, lm.model, lm.device
    enc = tok([r.prompt for r in reqs], return_tensors="pt", padding=True, truncation=True,
              max_length=lm.context_window).to(dev)
    hidden = model.get_encoder()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    C = max(len(r.choices) for r in reqs)
    conts = [[_encode(tok, c) or [prefix_token(tok)] for c in r.choices] for r in reqs]
    Lk = max(len(x) for c in conts for x in c)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    labels = torch.full((len(reqs) * C, Lk), pad, dtype=torch.long)
    dmask = torch.zeros_like(labels)
    for b, cs in enumerate(conts):
        for j, c in enumerate(cs):
            labels[b * C + j, :len(c)] = torch.tensor(c)
            dmask[b * C + j, :len(c)] = 1
    start = model.config.decoder_start_token_id
    dec_in = torch.cat([torch.full((labels.shape[0], 1), start), labels[:, :-1]], dim=1)
    from transformers.modeling_outputs import BaseModelOutput

    logits = model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(C, 0)),
                   attention_mask=enc["attention_mask"].repeat_interleave(C, 0),
                   decoder_input_ids=dec_in.to(dev), decoder_attention_mask=dmask.to(dev)).logits
    logprobs = logits.float().log_softmax(-1)  # (B·C, Lk, V)
    out = []
    for b, r in enumerate(reqs):
        lls, greedy = [], []
        for j, c in enumerate(conts[b]):
            step, target = logprobs[b * C + j, :len(c)], torch.tensor(c, device=dev)
            lls.append(float(step.gather(-1, target[:, None]).sum()))
            greedy.append(bool((step.argmax(-1) == target).all()))
        out.append(ChoiceScores(lls, list(r.choices), [len(c) for c in conts[b]], greedy))
    return out


# -- rolling log-likelihood (perplexity) ------------------------------------------
@torch.inference_mode()
def score_rolling(lm, texts: Sequence[str], *, precision: Precision = "auto", max_length: int | None = None,
                  progress: Progress = None) -> list[RollingScore]:
    """Log-likelihood of each whole text, scored in disjoint windows (lm-eval rolling windows).

    Causal: the text is prefixed with the BOS/EOS token so its first token is
    scored too; windows of ``max_length`` tokens each condition on the token before
    them. Seq2seq: the text is the decoder target of an empty encoder input.
    """
    if lm.kind not in ("causal", "seq2seq"):
        raise GenlabError(f"{lm.name} is an encoder-only model: it has no next-token probabilities to score "
                          "text with", hint="use a decoder-only or encoder-decoder model for perplexity tasks")
    out = []
    with autocast(precision, lm.device):  # one region: each weight is cast to bf16 once
        for text in texts:
            out.append(_rolling_one(lm, text, max_length or min(lm.context_window, ROLLING_WINDOW)))
            if progress:
                progress(1)
    return out


def _rolling_one(lm, text: str, max_length: int) -> RollingScore:
    tok, model, dev = lm.tokenizer, lm.model, lm.device
    ids = _encode(tok, text)
    n_bytes = len(text.encode("utf-8"))
    if not ids:
        return RollingScore(0.0, 0, n_bytes)
    if lm.kind == "seq2seq":
        enc = torch.tensor([[tok.eos_token_id]], device=dev)
        labels = torch.tensor([ids[:max_length]], device=dev)
        logits = model(input_ids=enc, labels=labels).logits.float().log_softmax(-1)
        return RollingScore(float(logits[0].gather(-1, labels[0][:, None]).sum()), labels.shape[1], n_bytes)
    seq = [prefix_token(tok)] + ids
    total = 0.0
    for start in range(1, len(seq), max_length):  # predict seq[start:start+L] from seq[start-1:...]
        window = torch.tensor([seq[start - 1:start + max_length - 1 + 1]], device=dev)
        inp, target = window[:, :-1], window[0, 1:]
        logp = model(input_ids=inp).logits[0].float().log_softmax(-1)
        total += float(logp.gather(-1, target[:, None]).sum())
    return RollingScore(total, len(ids), n_bytes)
