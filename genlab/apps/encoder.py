"""Text embeddings for retrieval: mean-pooled last hidden states, L2-normalised (sentence-transformers pooling).

With unit vectors, inner product = cosine similarity, so the index can use
faiss's exact inner-product search. Any model genlab loads works as an encoder
(``minilm-l6`` by default; a decoder's last hidden states also pool); the
model's identity (name + content hash) goes into the index manifest so an index
is never queried with vectors from another model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genlab.progress import Reporter, or_quiet

DEFAULT_ENCODER = "minilm-l6"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on 256-token inputs


@dataclass
class Encoder:
    lm: object  # genlab.models.LoadedModel
    max_tokens: int = MAX_TOKENS

    @property
    def name(self) -> str:
        return self.lm.name

    @property
    def model_hash(self) -> str:
        return self.lm.model_hash

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @property
    def dim(self) -> int:
        return int(self.lm.model.config.hidden_size)

    def encode(self, texts: list[str], *, batch_size: int = 64, reporter: Reporter | None = None,
               label: str = "embed") -> np.ndarray:
        """``(n, d)`` float32 unit vectors. Texts are sorted by length so batches pad little."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with or_quiet(reporter).task(label, total=len(texts)) as advance, torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                out[idx] = self._batch([texts[i] for i in idx])
                advance(len(idx))
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        return self.pool(enc)

    def encode_ids(self, rows: list[list[int]]) -> np.ndarray:
        """``(n, d)`` unit vectors of token-id rows, taken as they are (no special tokens added, none cut)."""
        import torch

        pad = self.tokenizer.pad_token_id or 0
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        with torch.inference_mode():
            return self.pool({"input_ids": ids, "attention_mask": mask})

    def pool(self, enc) -> np.ndarray:
        """Mean of the last hidden states over each row's real tokens, L2-normalised."""
        import torch

        from genlab.runtime import autocast

        enc = {k: v.to(self.lm.device) for k, v in enc.items()}
        model = self.lm.model.get_encoder() if self.lm.kind == "seq2seq" else self.lm.model
        with autocast("auto", self.lm.device):
            hidden = model(**enc, output_hidden_states=True).hidden_states[-1].float()  # (B, T, d)
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, d)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()


def load_encoder(name: str = DEFAULT_ENCODER, *, precision: str = "fp32") -> Encoder:
    """An encoder by any model name genlab loads. fp32 by default: vectors stay comparable across runs."""
    from genlab.models import load

    return Encoder(load(name, precision=precision))
