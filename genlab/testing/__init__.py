"""Tiny random models built from a config, for tests that run in seconds with no network.

``tiny_model_dir(path, kind)`` writes a real model folder (config, safetensors,
a real BPE tokenizer trained on a small corpus, a ChatML chat template) that
``genlab.models.load(str(path))`` loads like any other local model.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "The cat sat on the mat. The dog sat on the log.",
    "Customer: my order 12345 arrived late. Agent: I am sorry, I will refund the shipping.",
    "Summarize the following conversation. Summary: the customer wants a refund.",
    "Question: what is two plus two? Answer: four.",
    "Review: great product, five stars. Rating: 5",
    "Hello, how are you today? I am fine, thank you!",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}-_/@#$%&*+=<>",
]
SPECIALS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]


def tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on a fixed corpus (deterministic, ~50 ms)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>",
                                   bos_token="<|im_start|>", pad_token="<pad>")
    fast.chat_template = CHATML
    return fast


def tiny_config(kind: str = "causal", vocab_size: int = 512, **overrides):
    from transformers import BertConfig, LlamaConfig, T5Config

    if kind == "causal":
        cfg = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                   tie_word_embeddings=True, bos_token_id=2, eos_token_id=3, pad_token_id=4)
        return LlamaConfig(**{**cfg, **overrides})
    if kind == "seq2seq":
        cfg = dict(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                   num_heads=4, decoder_start_token_id=4, pad_token_id=4, eos_token_id=3)
        return T5Config(**{**cfg, **overrides})
    if kind == "encoder":
        cfg = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=256, pad_token_id=4)
        return BertConfig(**{**cfg, **overrides})
    raise ValueError(f"kind must be causal, seq2seq or encoder, not {kind!r}")


def tiny_model(kind: str = "causal", seed: int = 0, **overrides):
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    tokenizer = tiny_tokenizer()
    config = tiny_config(kind, vocab_size=len(tokenizer), **overrides)
    torch.manual_seed(seed)
    auto = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM, "encoder": AutoModel}[kind]
    model = auto.from_config(config)
    return model.eval(), tokenizer


def tiny_model_dir(path: str | Path, kind: str = "causal", seed: int = 0, **overrides) -> Path:
    """Write a tiny random model + tokenizer folder and return its path."""
    path = Path(path)
    model, tokenizer = tiny_model(kind, seed, **overrides)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_recipe(model, stages: str, *, name: str = "tiny", task: str = "support-summary", lr: str = "1.0e-3",
                max_new_tokens: int | None = None, max_seq_len: int = 384) -> str:
    """A lifecycle recipe that runs in seconds on a tiny model: 4 scored examples, 8 training rows, 2 steps.
    ``stages`` is the body of the stage list, one ``  - ...`` item per line."""
    generation = f", generation: {{max_new_tokens: {max_new_tokens}}}" if max_new_tokens else ""
    return (f"name: {name}\nmodel: {model}\ntask: {task}\neval: {{n: 4, batch_size: 4{generation}}}\nn_train: 8\n"
            f"train: {{max_steps: 2, batch_size: 2, lr: {lr}, val_max_examples: 2, val_generate: 0, "
            f"max_seq_len: {max_seq_len}}}\nstages:\n{stages}")
