"""/v1/embeddings through the openai client: an encoder served beside the language model."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from serving_helpers import client, tiny_server


@pytest.fixture(scope="module")
def server(tiny_causal_dir, tiny_encoder_dir):
    with tiny_server(tiny_causal_dir, embedding_model=str(tiny_encoder_dir)) as (url, service):
        yield url, service


def test_embeddings_are_the_rag_encoders_vectors(server, tiny_encoder_dir):
    from genlab.apps.encoder import load_encoder

    url, service = server
    name = str(tiny_encoder_dir)
    texts = ["where is my order", "refund", "the parcel arrived damaged and late"]
    encoder = load_encoder(name)
    want, one = encoder.encode(texts), encoder.encode(["refund"])[0]  # one alone: no padding, as the server sees it
    got = client(url).embeddings.create(model=name, input=texts)  # the client asks for base64 and decodes it
    assert [d.index for d in got.data] == [0, 1, 2] and got.model == name
    assert np.allclose(np.array([d.embedding for d in got.data]), want, atol=1e-5)
    assert got.usage.prompt_tokens == sum(len(service.embeddings.encoder.tokenizer(t)["input_ids"]) for t in texts)
    plain = httpx.post(url + "/v1/embeddings", json={"model": name, "input": "refund",
                                                     "encoding_format": "float"}).json()
    assert np.allclose(plain["data"][0]["embedding"], one, atol=1e-5)
    raw = httpx.post(url + "/v1/embeddings", json={"input": "refund", "encoding_format": "base64"}).json()
    assert np.allclose(np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4"), one, atol=1e-5)
    ids = service.embeddings.encoder.tokenizer("refund")["input_ids"]
    by_ids = httpx.post(url + "/v1/embeddings", json={"model": name, "input": [ids], "encoding_format": "float"})
    assert np.allclose(by_ids.json()["data"][0]["embedding"], one, atol=1e-5)
    listed = [m.id for m in client(url).models.list().data]
    assert listed == ["tiny", name] and client(url).models.retrieve(name).id == name


def test_embedding_mistakes_are_clear(server, tiny_causal_dir):
    url, service = server
    name = service.embeddings.name
    for body, status, param in [
            ({"model": "tiny", "input": "x"}, 400, "model"),
            ({"model": "nope", "input": "x"}, 404, "model"),
            ({"model": name, "input": []}, 400, "input"),
            ({"model": name, "input": [""]}, 400, "input"),
            ({"model": name, "input": "word " * 400}, 400, "input"),
            ({"model": name, "input": [[10 ** 9]]}, 400, "input"),
            ({"model": name, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
            ({"model": name, "input": "x", "dimensions": 3}, 400, "dimensions")]:
        r = httpx.post(url + "/v1/embeddings", json=body)
        assert (r.status_code, r.json()["error"]["param"]) == (status, param), (body, r.text)
    with tiny_server(tiny_causal_dir) as (plain_url, _):
        r = httpx.post(plain_url + "/v1/embeddings", json={"model": "tiny", "input": "x"})
        assert r.status_code == 400 and "--embedding-model" in r.json()["error"]["message"]
