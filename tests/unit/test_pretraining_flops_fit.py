"""FLOP counts against a hand computation, and the scaling-law fit against known laws."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.pretraining.flops import count_params, decoder_forward_flops, flops_6nd, gpu_hours
from genlab.pretraining.scaling_fit import Law, fit_law, holdout_check


def _tiny_llama(attention: str = "sdpa"):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=True, attn_implementation=attention)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


def test_decoder_flops_match_a_hand_computation():
    model = _tiny_llama()
    S = 16
    # by hand, per layer (d=32, h=4, h_kv=2, d_head=8, d_ff=64):
    proj = 2 * 16 * 32 * (4 + 2 + 2 + 4) * 8  # q, k, v, o: 98,304
    logits = 2 * 16 * 16 * 4 * 8  # Q·Kᵀ: 16,384
    softmax = 3 * 4 * 16 * 16  # 3,072
    weighted = 2 * 16 * 16 * 4 * 8  # A·V: 16,384
    mlp = 3 * 2 * 16 * 32 * 64  # gate, up, down: 196,608
    head = 2 * 16 * 32 * 512  # output logits: 524,288
    assert proj + logits + softmax + weighted + mlp == 330_752
    assert decoder_forward_flops(model.config, S) == 2 * 330_752 + head == 1_185_792


def test_decoder_flops_match_torch_flop_counter():
    """FlopCounterMode sees the same matmuls with eager attention (it does not count softmax)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = _tiny_llama("eager")
    ids = torch.randint(0, 512, (3, 16))
    softmax = 2 * 3 * 4 * 16 * 16  # per sequence: 2 layers x 3·h·S²
    with FlopCounterMode(display=False) as fwd:
        model(input_ids=ids, use_cache=False)
    assert fwd.get_total_flops() == 3 * decoder_forward_flops(model.config, 16) - 3 * softmax
    with FlopCounterMode(display=False) as both:
        model(input_ids=ids, use_cache=False).logits.float().sum().backward()
    # backward = 2 × forward, except the embedding lookup (a gather) and the input of the first matmul
    assert abs(both.get_total_flops() / fwd.get_total_flops() - 3.0) < 0.1


def test_params_split_embedding_from_the_rest():
    model = _tiny_llama()
    p = count_params(model)
    assert p.embedding == 512 * 32  # tied: the head is the same matrix, counted once
    assert p.total == sum(x.numel() for x in model.parameters())
    per_layer = 32 * 32 * 2 + 32 * 16 * 2 + 3 * 32 * 64 + 2 * 32  # q,o + k,v (2 kv heads) + MLP + 2 RMSNorms
    assert p.non_embedding == 2 * per_layer + 32
    assert flops_6nd(p.total, 1000) == 6 * p.total * 1000


def test_embedding_share_of_a_49k_vocabulary():
    from genlab.pretraining.flops import params_for

    small, big = params_for("causal", "64x2", 2048), params_for("causal", "64x2", 49_152)
    assert small.non_embedding == big.non_embedding
    assert big.embedding == 49_152 * 64 and big.embedding_share > 0.95 > 0.6 > small.embedding_share


def test_gpu_hours_at_the_course_figures():
    h = gpu_hours(1e15 * 86400)  # one petaflop/s-day
    assert h == {"A100": 48.0, "V100": 192.0}


# -- the fit -------------------------------------------------------------------------------------

def _synthetic(law: Law, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    N = np.repeat([1e6, 3e6, 1e7, 3e7, 1e8], 4)
    D = np.tile([2e8, 1e9, 5e9, 2e10], 5)
    return N, D, law.loss(N, D) * np.exp(rng.normal(0, noise, len(N)))


def test_fit_recovers_a_known_law_from_noisy_losses():
    true = Law(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28)
    N, D, L = _synthetic(true, noise=0.005)
    fit = fit_law(N, D, L, n_bootstrap=60)
    assert fit.converged, fit.reason
    # tolerance: with 0.5% noise on 20 runs, E within 10%, exponents within 0.03
    assert abs(fit.law.E - true.E) / true.E < 0.10
    assert abs(fit.law.alpha - true.alpha) < 0.03 and abs(fit.law.beta - true.beta) < 0.03
    for k in ("E", "alpha", "beta"):
        lo, hi = fit.intervals[k]
        assert lo <= getattr(true, k) <= hi, (k, lo, hi)
    # noiseless: exact recovery
    exact = fit_law(*_synthetic(true, 0.0)[:2], true.loss(*_synthetic(true, 0.0)[:2]), n_bootstrap=0)
    assert abs(exact.law.alpha - 0.34) < 1e-3 and abs(exact.law.beta - 0.28) < 1e-3 and abs(exact.law.E - 1.8) < 1e-2


def test_runs_far_above_the_floor_report_E_as_not_identified():
    """Kaplan-style losses (no irreducible term): E runs to its floor; the exponents are still recovered,
    the prediction still holds, and E gets neither a value in the table nor an interval."""
    true = Law(E=0.0, A=60.0, B=900.0, alpha=0.45, beta=0.5)
    N, D, L = _synthetic(true, noise=0.003, seed=2)
    fit = fit_law(N, D, L, n_bootstrap=20)
    assert fit.converged and not fit.E_identified, fit.reason
    assert "not identified" in fit.reason and "E" not in fit.intervals and "alpha" in fit.intervals
    assert abs(fit.law.alpha - 0.45) < 0.03 and abs(fit.law.beta - 0.5) < 0.03
    assert fit.law.E <= 1e-3 * L.min() * 1.0001
    out = holdout_check(list(N), list(D), list(L), int(np.argmax(N * D)), n_bootstrap=0)
    assert out["converged"] and abs(out["error"]) < 0.02
    # a law with a real floor keeps it
    assert fit_law(*_synthetic(Law(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28), 0.0), n_bootstrap=0).E_identified


def test_compute_optimal_split_matches_brute_force():
    law = Law(**{"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28})
    C = 5.76e23  # Gopher's budget
    n_opt, d_opt = law.optimal(C)
    n = np.geomspace(1e9, 1e12, 20001)
    brute = n[np.argmin(law.loss(n, C / (6 * n)))]
    assert abs(n_opt / brute - 1) < 0.01 and abs(6 * n_opt * d_opt / C - 1) < 1e-9


def test_holdout_prediction_of_a_synthetic_law():
    true = Law(E=2.0, A=50.0, B=300.0, alpha=0.4, beta=0.35)
    N, D, L = _synthetic(true, noise=0.002, seed=1)
    out = holdout_check(list(N), list(D), list(L), int(np.argmax(N * D)), n_bootstrap=0)
    assert out["converged"] and abs(out["error"]) < 0.02


def test_fit_refuses_too_few_runs_and_flat_grids():
    with pytest.raises(ConfigError, match="at least 5"):
        fit_law([1e6, 2e6, 3e6, 4e6], [1e9, 2e9, 1e9, 2e9], [3.0, 2.9, 2.8, 2.7])
    with pytest.raises(ConfigError, match="at least 2"):
        fit_law([1e6] * 6, [1e9, 2e9, 3e9, 4e9, 5e9, 6e9], [3.0, 2.9, 2.8, 2.7, 2.6, 2.5])


def test_a_fit_that_cannot_converge_says_so_and_reports_no_law():
    """Losses that rise with both N and D: no E + A/N^α + B/D^β describes them."""
    N = np.repeat([1e6, 1e7, 1e8], 3)
    D = np.tile([1e8, 1e9, 1e10], 3)
    L = 2.0 + 0.3 * np.log10(N) + 0.2 * np.log10(D)
    fit = fit_law(N, D, L, n_bootstrap=10)
    assert not fit.converged and fit.law is None and fit.intervals == {}
    assert fit.reason and len(fit.points) == 9 and all("residual_log" in p for p in fit.points)


def test_scaling_fit_cli_refuses_a_small_grid_in_one_line(tmp_path, capsys):
    from genlab.cli import main

    for i, (n, d, loss) in enumerate([(1e5, 1e5, 5.0), (2e5, 1e5, 4.8), (1e5, 2e5, 4.7), (2e5, 2e5, 4.5)]):
        run = tmp_path / f"r{i}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"pretrain_config": {"size": "32x1"}}))
        (run / "results.json").write_text(json.dumps({
            "params": {"total": n, "non_embedding": n / 2}, "train": {"tokens": d, "wall_s": 1, "tokens_per_s": 1},
            "after": {"flops_6nd": 6 * n * d, "mfu": None}, "heldout_loss": loss}))
    assert main(["scaling", "fit", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "at least 5 finished runs" in err and "Traceback" not in err


def test_grid_replicas_share_the_split_and_average_into_one_point(tmp_path):
    """--seeds 2: each point trains twice (other init and data order, same held-out blocks); the fit sees
    one point per (size, tokens) with the replicas' mean; a finished grid is reused, not retrained."""
    from genlab.pretraining.scaling import GridSettings, collect, run_grid

    settings = GridSettings(docs=200, tokenizer="bpe:512", block_size=32, val_blocks=4, batch_size=2)
    rows = run_grid(["16x1", "32x1"], [2048], tmp_path, settings, seeds=2)
    assert [r["run"] for r in rows] == ["16x1-2048", "32x1-2048"] and all(r["seeds"] == 2 for r in rows)
    for r in rows:
        a, b = r["losses"]
        assert a != b and r["loss"] == pytest.approx((a + b) / 2)
    cfgs = [json.loads((tmp_path / n / "config.json").read_text()) for n in ("16x1-2048", "16x1-2048-s1")]
    assert cfgs[0]["train_config"]["seed"] == 0 and cfgs[1]["train_config"]["seed"] == 1
    lrs = {n: json.loads((tmp_path / n / "config.json").read_text())["train_config"]["lr"]
           for n in ("16x1-2048", "16x1-2048-s1", "32x1-2048")}  # lr·96/width: the narrower model a higher rate
    assert lrs == pytest.approx({"16x1-2048": 3e-3 * 6, "16x1-2048-s1": 3e-3 * 6, "32x1-2048": 3e-3 * 3})
    again = run_grid(["16x1", "32x1"], [2048], tmp_path, settings, seeds=2)
    assert [r["losses"] for r in again] == [r["losses"] for r in rows] and collect(tmp_path) == again


def test_grid_lr_by_width_and_grids_from_before_it(tmp_path):
    """lr holds at lr_width; other widths scale by lr_width/w; lr_width=0 is one rate. A grid folder saved
    before lr_width existed ran one rate: it is extended with lr_width=0 and refused with the default."""
    from genlab.errors import GenlabError
    from genlab.pretraining.scaling import GridSettings, _check_settings

    s = GridSettings(lr=2e-3, lr_width=64)
    assert (s.lr_for("64x2"), s.lr_for("32x1"), s.lr_for("128x4")) == pytest.approx((2e-3, 4e-3, 1e-3))
    assert GridSettings(lr=2e-3, lr_width=0).lr_for("32x1") == 2e-3
    old = GridSettings(lr_width=0).to_dict()
    del old["lr_width"]
    (tmp_path / "grid.json").write_text(json.dumps(old))
    _check_settings(tmp_path, GridSettings(lr_width=0))
    with pytest.raises(GenlabError, match="lr_width") as refused:
        _check_settings(tmp_path, GridSettings())
    assert "--lr-width 0" in refused.value.hint


def test_scaling_fit_cli_on_a_grid_from_a_known_law(tmp_path, capsys):
    """Run folders whose losses follow a law: the CLI fits, predicts the held-out run under both parameter
    counts, writes fit.json and the three plots."""
    from genlab.cli import main

    law = Law(E=1.5, A=300.0, B=900.0, alpha=0.4, beta=0.45)
    for n in (1e5, 3e5, 1e6, 3e6):
        for d in (1e6, 3e6, 1e7):
            run = tmp_path / f"{int(n)}-{int(d)}"
            run.mkdir()
            (run / "config.json").write_text(json.dumps({"pretrain_config": {"size": f"{int(n)}"}}))
            (run / "results.json").write_text(json.dumps({
                "params": {"total": n, "non_embedding": n * 0.7}, "after": {"flops_6nd": 6 * n * d, "mfu": None},
                "train": {"tokens": d, "wall_s": 1, "tokens_per_s": 1}, "heldout_loss": float(law.loss(n, d))}))
    assert main(["scaling", "fit", str(tmp_path), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "prediction check (N = all parameters)" in out and "prediction check (N = non-embedding)" in out
    report = json.loads((tmp_path / "fit.json").read_text())
    assert abs(report["holdout"]["error"]) < 0.01 and abs(report["holdout_nonembedding"]["error"]) < 0.01
    loo = report["leave_one_out"]["all"]
    assert len(loo["errors"]) == 12 and not loo["not_converged"] and abs(loo["worst_error"]) < 0.01
    assert "leave-one-out (N = all parameters)" in out
    assert all((tmp_path / f).is_file() for f in ("loss_vs_tokens.png", "isoflop.png", "fitted_vs_observed.png"))


def test_scaling_fit_reads_runs_measured_elsewhere_from_a_table(tmp_path, capsys):
    """A CSV of runs from another framework (its own column names, a replica row, no non-embedding counts):
    fitted like a grid, fit.json and the plots beside it; a JSONL with N_nonemb gets both fits."""
    from genlab.cli import main
    from genlab.errors import DataError
    from genlab.pretraining.scaling import collect, fit_grid

    law = Law(E=1.5, A=300.0, B=900.0, alpha=0.4, beta=0.45)
    grid = [(n, d) for n in (1e5, 3e5, 1e6, 3e6) for d in (1e6, 3e6, 1e7)]
    lines = ["params,tokens,val_loss,run"] + [f"{int(n)},{int(d)},{law.loss(n, d):.6f},r{k}"
                                              for k, (n, d) in enumerate(grid)]
    lines.append(f"{int(1e5)},{int(1e6)},{law.loss(1e5, 1e6) + 0.02:.6f},r0")  # a replica of r0
    table = tmp_path / "runs.csv"
    table.write_text("\n".join(lines) + "\n")
    rows = collect(table)
    assert len(rows) == 12 and rows[0]["seeds"] == 2 and rows[0]["loss"] == pytest.approx(law.loss(1e5, 1e6) + 0.01)
    assert rows[0]["C"] == 6 * 1e5 * 1e6 and rows[0]["N_nonemb"] is None
    assert main(["scaling", "fit", str(table), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "prediction check (N = all parameters)" in out and "non-embedding" not in out
    report = json.loads((tmp_path / "runs-fit" / "fit.json").read_text())
    assert abs(report["fit"]["law"]["alpha"] - 0.4) < 0.02 and "fit_nonembedding" not in report
    assert (tmp_path / "runs-fit" / "loss_vs_tokens.png").is_file()
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("".join(json.dumps({"N": n, "D": d, "loss": float(law.loss(n, d)), "N_nonemb": 0.7 * n}) + "\n"
                             for n, d in grid))
    both = fit_grid(jsonl, n_bootstrap=0, plots=False, out=tmp_path / "elsewhere")
    assert both["fit_nonembedding"]["converged"] and (tmp_path / "elsewhere" / "fit.json").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("params,tokens,score\n100000,1000000,2.5\n")
    with pytest.raises(DataError, match=r"bad.csv:2: no loss / L / heldout_loss") as e:
        collect(bad)
    assert "columns N" in e.value.render()
    bad.write_text("N,D,loss\n100000,1000000,n/a\n")
    with pytest.raises(DataError, match=r"bad.csv:2: loss must be a positive number, got 'n/a'"):
        collect(bad)
