"""The serving engine alone: 16 greedy sequences on one LoRA adapter vs spread over four, with the adapters
stacked per layer (genlab.serving.lora_batch) vs peft's mixed-batch path (adapter_names).

    python bench/serve_adapters.py [--rounds 2] [--max-tokens 48]

No HTTP and no client: all 16 sequences are submitted at once and run to the end, so each configuration takes
the same number of decode steps and the wall times compare the steps' cost. Four random LoRA adapters (r=8 on
q and v) from bench/serve.py; `support-summary` test prompts as chat.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from serve import prompts, random_loras


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()

    import genlab.serving.lora_batch as lora_batch
    from genlab.generation import GenerationConfig, encode_prompts
    from genlab.models import load
    from genlab.runtime import machine_line
    from genlab.serving.app import load_named_adapter
    from genlab.serving.engine import Engine
    from genlab.serving.sequence import Failed, Finished, Sequence

    print(machine_line())
    lm = load("smollm2-135m-instruct")
    adapters = random_loras(lm.path, Path(tempfile.mkdtemp()), 4)
    for name, path in adapters.items():
        load_named_adapter(lm, path, name)
    cfg = GenerationConfig(max_new_tokens=args.max_tokens)
    ids = encode_prompts(lm, prompts(16), cfg, chat=True)
    engine = Engine(lm).start()
    stack = lora_batch.stack

    def run(names: list[str], stacked: bool) -> tuple[float, int, int]:
        lora_batch.stack = stack if stacked else (lambda *a: None)
        engine.call(engine.refresh_adapters).result()
        assert (engine.stacked is not None) == stacked
        done = threading.Semaphore(0)
        seqs = [Sequence(p, cfg, names[i % len(names)],
                         lambda ev: isinstance(ev, (Finished, Failed)) and done.release()) for i, p in enumerate(ids)]
        steps, t0 = engine.steps, time.perf_counter()
        engine.submit(seqs)
        for _ in seqs:
            done.acquire()
        return time.perf_counter() - t0, engine.steps - steps, sum(len(s.out_ids) for s in seqs)

    one, four = ["lora0"], list(adapters)
    run(one, True)  # warm-up
    print(f"{'adapters':<10}{'path':<9}{'wall s':>8}{'steps':>7}{'tokens':>8}")
    walls: dict[tuple[int, bool], list[float]] = {}
    for _ in range(args.rounds):
        for names in (one, four):
            for stacked in (True, False):
                wall, steps, tokens = run(names, stacked)
                walls.setdefault((len(names), stacked), []).append(wall)
                print(f"{len(names):<10}{'stacked' if stacked else 'peft':<9}{wall:>8.2f}{steps:>7}{tokens:>8}",
                      flush=True)
    engine.stop()
    lora_batch.stack = stack
    mean = {k: sum(v) / len(v) for k, v in walls.items()}
    print(f"4 adapters / 1 adapter, wall time: stacked {mean[4, True] / mean[1, True]:.2f}x, "
          f"peft {mean[4, False] / mean[1, False]:.2f}x (target within 15%)")
    print(f"peft / stacked, wall time: 1 adapter {mean[1, False] / mean[1, True]:.2f}x, "
          f"4 adapters {mean[4, False] / mean[4, True]:.2f}x")


if __name__ == "__main__":
    main()
