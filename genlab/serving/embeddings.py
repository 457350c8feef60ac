"""``POST /v1/embeddings``: an encoder served beside the language model, as OpenAI's embeddings API.

``genlab serve -m smollm2-135m-instruct --embedding-model minilm-l6`` answers
``client.embeddings.create(model="minilm-l6", input=[...])``: one unit vector per input, mean-pooled as
``genlab.apps.encoder`` pools them for RAG (so an index genlab built is queried with the same vectors).

Fields: ``model`` (the embedding model's name), ``input`` (a string, strings, token ids or token-id lists, up to
``MAX_INPUTS``), ``encoding_format`` (``float``, or ``base64``: little-endian float32 bytes, which the openai
client asks for by default), ``dimensions`` (only the model's own: the vectors are not truncatable). An input
longer than the encoder reads is a 400 naming the limit, never cut silently.
"""

from __future__ import annotations

import base64
import threading

import numpy as np

from genlab.serving import protocol as P
from genlab.serving.protocol import APIError

MAX_INPUTS = 2048  # OpenAI's limit per request


class Embeddings:
    """The encoder and its name; one request embeds at a time (the engine thread keeps the other core busy)."""

    def __init__(self, encoder, name: str):
        self.encoder, self.name, self._lock = encoder, name, threading.Lock()

    def model_card(self, created: int) -> dict:
        return {"id": self.name, "object": "model", "created": created, "owned_by": "genlab",
                "root": str(getattr(self.encoder.lm, "path", self.name)), "parent": None, "kind": "embedding"}

    def answer(self, body: dict) -> dict:
        rows, texts = self._inputs(body.get("input"))
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise P.bad("'encoding_format' must be float or base64", "encoding_format")
        dims = body.get("dimensions")
        if dims is not None and dims != self.encoder.dim:
            raise P.bad(f"'dimensions': {self.name} gives {self.encoder.dim}-dimensional vectors and they cannot be "
                        "shortened", "dimensions")
        with self._lock:
            vectors = self.encoder.encode_ids(rows) if texts is None else self.encoder.encode(texts)
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if fmt == "base64" else v.tolist()}
                for i, v in enumerate(np.asarray(vectors, dtype=np.float32))]
        used = sum(len(r) for r in rows)
        return {"object": "list", "data": data, "model": self.name,
                "usage": {"prompt_tokens": used, "total_tokens": used}}

    def _inputs(self, value) -> tuple[list[list[int]], list[str] | None]:
        """Token rows (for usage and the length check) and the texts (None when the client sent token ids)."""
        shape = "'input' must be a string, an array of strings, an array of token ids or an array of token-id arrays"
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise P.bad(shape, "input")
        if len(value) > MAX_INPUTS:
            raise P.bad(f"'input' has {len(value)} items; at most {MAX_INPUTS} per request", "input")
        if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
            value = [value]
        tok = self.encoder.tokenizer
        positions = getattr(self.encoder.lm.model.config, "max_position_embeddings", None) or self.encoder.max_tokens
        limit = min(self.encoder.max_tokens, positions)
        texts = None
        if all(isinstance(v, str) for v in value):
            texts = value
            rows = [tok(v)["input_ids"] for v in value]
        elif all(isinstance(v, list) and v and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
                 for v in value):
            rows = value
            if any(not 0 <= t < len(tok) for r in rows for t in r):
                raise P.bad(f"'input' holds a token id outside the vocabulary (0..{len(tok) - 1})", "input")
        else:
            raise P.bad(shape, "input")
        for i, r in enumerate(rows):
            if texts is not None and not texts[i]:
                raise P.bad(f"input[{i}] is empty", "input")
            if len(r) > limit:
                raise P.bad(f"input[{i}] is {len(r)} tokens; {self.name} reads at most {limit}: split the text",
                            "input", "context_length_exceeded")
        return rows, texts


def not_served(service, model) -> APIError:
    """The error for an embeddings request this server cannot answer."""
    if service.embeddings is None:
        return P.bad("this server has no embedding model: start it with --embedding-model NAME (e.g. minilm-l6)",
                     "model")
    if model in service.model_ids():
        return P.bad(f"'{model}' generates text; embeddings come from '{service.embeddings.name}'", "model")
    names = ", ".join([*service.model_ids(), service.embeddings.name])
    return APIError(404, f"The model '{model}' does not exist. Models here: {names}", param="model",
                    code="model_not_found")
