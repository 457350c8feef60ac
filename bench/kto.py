"""genlab's KTO (the one training loop + KTOObjective) vs TRL ``KTOTrainer`` + peft on the same run.

Same model (embedded SmolLM2-135M-Instruct), same rows (the first N support-summary-prefs train pairs, each split
into a desirable and an undesirable row as TRL's ``unpair_preference_dataset`` does; prompts chat-templated by
the task), same hyper-parameters (LoRA r=8, alpha 16, no dropout on q_proj,v_proj; β=0.1, λ_D = λ_U = 1; batch 4
rows; 1 epoch; lr 5e-5 cosine, 3% warmup; bf16 autocast on CPU). Both compute the reference log-probs of the rows
and of their mismatched KL rows once before training (TRL: ``precompute_ref_log_probs=True``; the adapter
disabled in both) and that time counts. Each side runs in its own process. Tokens: prompt + completion of every
row and of its KL row, as each side tokenized them (each forwards both, the KL row without a gradient in TRL).

    python bench/kto.py              # both, N=32 pairs = 64 rows

Prints tokens/s (reference pass + training), wall time, peak RSS, the mean training loss of the last 10% of steps
(each side batches the rows in its own order and pairs them with other KL rows, so the losses differ by more than
rounding) and the ratios.
"""

from __future__ import annotations

from pathlib import Path

from dpo import HP, _summary, bench_args, report, run_sides, train_genlab, train_trl  # bench/dpo.py


def rows(n: int, tokenizer) -> list[tuple[str, str, bool]]:
    from genlab.alignment.kto import unpaired
    from genlab.alignment.preferences import load_preferences

    data = load_preferences("support-summary-prefs", split="train", n=n, seed=0, tokenizer=tokenizer,
                            template="sample")
    return [(r.prompt, r.completion, r.desirable) for r in unpaired(data.pairs)]


def run_genlab(n: int, out: Path) -> dict:
    from genlab.alignment.kto import Feedback, KTOObjective, encode_feedback

    _, *figures = train_genlab(lambda tok: encode_feedback([Feedback(p, c, d, {}) for p, c, d in rows(n, tok)], tok,
                                                           1024), KTOObjective(HP["beta"]), out)
    return _summary("genlab", *figures, "rows")


def run_trl(n: int, out: Path) -> dict:
    from trl import KTOConfig, KTOTrainer

    trainer, wall, ref_s, losses = train_trl(
        KTOConfig, KTOTrainer, lambda tok: [{"prompt": p, "completion": c, "label": d} for p, c, d in rows(n, tok)],
        out, 2 * n, loss_type="kto")
    ds = trainer.train_dataset
    tokens = sum(2 * len(p) + len(c) + len(k) for p, c, k in zip(ds["prompt_ids"], ds["completion_ids"],
                                                                 ds["KL_completion_ids"])) \
        if {"prompt_ids", "completion_ids", "KL_completion_ids"} <= set(ds.column_names) else None
    return _summary("trl", tokens, wall, ref_s, losses, len(ds), "rows")


def main() -> None:
    a = bench_args(__doc__, 32, "preference pairs, split into 2n rows", "runs/bench-kto", ["genlab", "trl"])
    results = run_sides(a, run_genlab, run_trl, __file__)
    if results is not None:
        report(results, a.out)


if __name__ == "__main__":
    main()
