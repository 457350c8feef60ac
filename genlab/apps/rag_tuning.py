"""A LoRA format adapter for RAG answers: tuned on retrieved passages -> the short gold answer.

The embedded model finds the right passage (recall@5 is near 1) but answers in a
padded sentence or copies the wrong number; the course's answer is to tune it on
the application's format. Each training pair is the prompt ``genlab rag`` builds
at answer time (same worked examples, same passages from the same retrieval, so
the gold chunk is sometimes ranked low and distractors sit beside it), and the
target is the gold short phrase. Questions come from the ``support-kb-qa`` train
and validation splits, which ask about the handbook's "seen" companies only;
``test-unseen`` asks about companies and phrasings the adapter never saw, so a
gain there is reading, not recall of trained facts.
"""

from __future__ import annotations

from genlab.apps.chunking import ChunkConfig


class KbAnswerTask:
    """Duck-typed task for ``genlab.tuning.tune``: (RAG prompt, gold answer) pairs of ``support-kb-qa``."""

    name = "support-kb-qa-rag"
    output_type = "generate"

    def __init__(self, encoder, k: int = 5, budget: int | None = None, chunking: ChunkConfig = ChunkConfig()):
        """``budget``: prompt tokens, as ``answer_questions`` computes it (context window - max_new_tokens);
        keep it at or under the training ``max_seq_len`` so no prompt is cut."""
        from genlab.apps.kb_eval import handbook_index
        from genlab.tasks import load_task

        self.encoder, self.k, self.budget = encoder, k, budget
        self.index, self.task = handbook_index(encoder, chunking), load_task("support-kb-qa")

    def split_names(self) -> list[str]:
        return ["train", "validation"]

    def training_pairs(self, split: str = "train", *, n: int | None = None, seed: int = 0, tokenizer=None,
                       **_) -> list[tuple[str, str]]:
        from genlab.apps.rag import fit_passages, retrieve

        rows = self.task.examples(split)[:n]
        hits = retrieve(self.index, self.encoder, [r["question"] for r in rows], self.k)
        return [(fit_passages(r["question"], h, tokenizer, self.budget)[0], r["answer"]) for r, h in zip(rows, hits)]
