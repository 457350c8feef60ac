"""Serving under load: N concurrent streaming clients against genlab serve and against `transformers serve`.

    flock /tmp/genlab-heavy.lock python bench/serve.py [--streams 1,4,16] [--rounds 2] [--max-tokens 48]
    flock /tmp/genlab-heavy.lock python bench/serve.py --batch-invariant   # both genlab sides batch-invariant

Each of N async ``openai`` clients sends ``--rounds`` chat requests one after the other (so requests join
and leave a running batch), prompts from ``support-summary`` (test split), greedy. Reported per run:
aggregate completion tokens/s over the wall time, p50/p95 time to first token (TTFT) and inter-token
latency (ITL, gaps between streamed chunks). Peers in the same run: `transformers serve
--continuous-batching` on the embedded model's cached folder (same weights and dtype), and genlab's own
single stream (N=1). Each server runs in its own process (`genlab serve`, `transformers serve`), the
clients in this one. Then 16 streams spread over 4 LoRA adapters vs 16 streams on one adapter, and
the greedy texts of 16 prompts sent at once against offline ``genlab generate`` on the same prompts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def prompts(n: int) -> list[str]:
    from genlab.tasks import load_task

    return [r.prompt for r in load_task("support-summary").requests("test", n=n, chat=False)]


async def one_client(client, model: str, texts: list[str], max_tokens: int, stats: dict) -> None:
    for text in texts:
        t0 = time.perf_counter()
        last, n_chunks = None, 0
        stream = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                                      max_tokens=max_tokens, temperature=0, stream=True,
                                                      stream_options={"include_usage": True})
        async for chunk in stream:
            now = time.perf_counter()
            if chunk.usage:
                stats["tokens"] += chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                if last is None:
                    stats["ttft"].append(now - t0)
                else:
                    stats["itl"].append(now - last)
                last, n_chunks = now, n_chunks + 1


async def load(url: str, models: list[str], streams: int, rounds: int, max_tokens: int, pool: list[str],
               timeout: float = 600) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=timeout)
    stats = {"tokens": 0, "ttft": [], "itl": []}
    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(client, models[i % len(models)],
                                      [pool[(i * rounds + r) % len(pool)] for r in range(rounds)], max_tokens, stats)
                           for i in range(streams)))
    stats["wall"] = time.perf_counter() - t0
    await client.close()
    return stats


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def row(label: str, streams: int, s: dict) -> str:
    return (f"{label:<26}{streams:>4}{s['tokens']:>7}{s['wall']:>8.1f}{s['tokens'] / s['wall']:>9.1f}"
            f"{pct(s['ttft'], .5) * 1e3:>9.0f}{pct(s['ttft'], .95) * 1e3:>9.0f}"
            f"{pct(s['itl'], .5) * 1e3:>8.0f}{pct(s['itl'], .95) * 1e3:>8.0f}")


def random_loras(model_dir: Path, out: Path, n: int) -> dict[str, str]:
    """``n`` peft LoRA folders (r=8 on q,v) with random B, so each changes the model: plain peft, as vLLM loads them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = {}
    for i in range(n):
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
        gen = torch.Generator().manual_seed(i)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        model.save_pretrained(out / f"lora{i}")
        paths[f"lora{i}"] = str(out / f"lora{i}")
    return paths


def served_greedy(url: str, texts: list[str], max_tokens: int) -> list[str]:
    """Greedy chat answers, all prompts sent at once."""
    import openai

    async def ask():
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600) as client:
            outs = await asyncio.gather(*(client.chat.completions.create(
                model="smollm2", messages=[{"role": "user", "content": t}], max_tokens=max_tokens, temperature=0)
                for t in texts))
        return [o.choices[0].message.content for o in outs]

    return asyncio.run(ask())


def offline_greedy(lm, texts: list[str], max_tokens: int, invariant: bool = False) -> list[str]:
    """The same prompts through offline ``genlab.generate`` on the base."""
    from genlab.generation import GenerationConfig, generate

    return [g.text for g in generate(lm, texts, GenerationConfig(max_new_tokens=max_tokens), chat=True,
                                     batch_invariant=invariant)]


def start_transformers_serve(model_dir: Path, port: int, dtype: torch.dtype):
    """The peer on genlab's dtype: bf16 where genlab chose it (fast bf16), fp32 where the CPU would emulate bf16."""
    exe = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    cmd = [exe, "serve", str(model_dir), "--continuous-batching", "--dtype", str(dtype).removeprefix("torch."),
           "--device", "cpu", "--port", str(port), "--host", "127.0.0.1"]
    return start_server(cmd, port)


def start_server(cmd: list[str], port: int):
    """``cmd`` in its own process, once it answers ``/health`` (or why it did not)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, f"exited {proc.returncode}: {proc.stdout.read()[-800:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, None
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    return None, "did not answer /health within 180 s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--batch-invariant", action="store_true",
                    help="genlab serve --batch-invariant, and offline generate batch-invariant for the text check")
    args = ap.parse_args()
    streams = [int(s) for s in args.streams.split(",")]

    from genlab.models import load as load_model
    from genlab.serving.server import free_port

    from genlab.runtime import machine_line

    print(machine_line())
    lm = load_model("smollm2-135m-instruct")  # genlab's default: bf16 weights where the CPU is fast at them
    pool = prompts(64)
    tmp = Path(tempfile.mkdtemp())
    adapters = random_loras(lm.path, tmp, 4)
    print(f"model smollm2-135m-instruct ({next(lm.model.parameters()).dtype}) · prompts support-summary test · "
          f"greedy · max_tokens {args.max_tokens} · {args.rounds} requests per stream · torch threads "
          f"{len(os.sched_getaffinity(0))} · each server in its own process, the clients in this one")
    head = f"{'server':<26}{'N':>4}{'tokens':>7}{'wall s':>8}{'tok/s':>9}{'TTFT50':>9}{'TTFT95':>9}{'ITL50':>8}{'ITL95':>8}"
    print("times in ms\n" + head)
    ours = {}
    port = free_port()
    cmd = [sys.executable, "-m", "genlab", "serve", "-m", "smollm2-135m-instruct", "--served-model-name", "smollm2",
           "--port", str(port), "--max-batch", "16"] + [a for k, v in adapters.items() for a in ("--adapter", f"{k}={v}")]
    cmd += ["--batch-invariant"] if args.batch_invariant else []
    proc, why = start_server(cmd, port)
    if proc is None:
        raise SystemExit(f"genlab serve did not start: {why}")
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(load(url, ["smollm2"], 1, 1, 4, pool))  # warm-up
        for n in streams:
            ours[n] = asyncio.run(load(url, ["smollm2"], n, args.rounds, args.max_tokens, pool))
            print(row("genlab serve", n, ours[n]), flush=True)
        one = asyncio.run(load(url, ["lora0"], 16, args.rounds, args.max_tokens, pool))
        print(row("genlab, 1 adapter", 16, one), flush=True)
        four = asyncio.run(load(url, list(adapters), 16, args.rounds, args.max_tokens, pool))
        print(row("genlab, 4 adapters", 16, four), flush=True)
        served = served_greedy(url, pool[:16], args.max_tokens)
    finally:
        proc.terminate()
        proc.wait(30)
    same = sum(a == b for a, b in zip(served, offline_greedy(lm, pool[:16], args.max_tokens, args.batch_invariant)))
    top = max(streams)
    rate = {n: s["tokens"] / s["wall"] for n, s in ours.items()}
    if 1 in rate:
        print(f"genlab {top} streams / genlab 1 stream: {rate[top] / rate[1]:.2f}x (target >= 3x)")
    r1, r4 = one["tokens"] / one["wall"], four["tokens"] / four["wall"]
    print(f"16 streams over 4 adapters / over 1 adapter: {r4 / r1:.2f}x throughput (target within 15%)")
    print(f"greedy server text == offline genlab generate ({next(lm.model.parameters()).dtype}"
          f"{', batch-invariant' if args.batch_invariant else ''}): {same}/16 prompts (target >= 95%)", flush=True)
    peer = {}
    if not args.skip_peer:
        port = free_port()
        peer_dir = Path(lm.path)  # its config.json names the architecture `transformers serve` loads
        proc, why = start_transformers_serve(peer_dir, port, next(lm.model.parameters()).dtype)
        if proc is None:
            print(f"transformers serve: not measured ({why})")
        else:
            try:
                url = f"http://127.0.0.1:{port}"
                asyncio.run(load(url, [str(peer_dir)], 1, 1, 4, pool, timeout=60))
                for n in streams:
                    peer[n] = asyncio.run(load(url, [str(peer_dir)], n, args.rounds, args.max_tokens, pool,
                                               timeout=60))
                    print(row("transformers serve (CB)", n, peer[n]), flush=True)
            except Exception as e:  # noqa: BLE001 - a peer failure is a result to report, not a crash
                print(f"transformers serve: failed under load: {type(e).__name__}: {e}")
            finally:
                proc.terminate()
                proc.wait(30)
    if top in peer:
        print(f"genlab / transformers serve at {top} streams: {rate[top] / (peer[top]['tokens'] / peer[top]['wall']):.2f}x "
              f"(target >= 2x); p95 TTFT {pct(ours[top]['ttft'], .95):.2f} s vs {pct(peer[top]['ttft'], .95):.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
