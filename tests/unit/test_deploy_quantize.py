"""int8 quantization on tiny random models: error bounds, save/reload through the registry, refusals."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError, GenlabError

IDS = torch.tensor([[5, 17, 99, 230, 41, 7, 300, 12, 64, 3]])


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_HOME", str(tmp_path / "home"))
    return tmp_path


def test_int8_linear_error_within_the_analytic_bound():
    """|y - ŷ| ≤ Σ_j |x_j|·s_i/2 (weights: s_i = max|W_i|/127) + Σ_j |Ŵ_ij|·s_x/2 (activations, ≤ 7-bit range)."""
    from genlab.deploy.int8 import from_linear, scales_of

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    x = torch.randn(5, 64)
    q = from_linear(lin)
    with torch.no_grad():
        y, yq = lin(x), q(x)
        s_w = scales_of(lin.weight)  # (out,)
        s_x = (x.max().clamp(min=0) - x.min().clamp(max=0)) / 127
        bound = x.abs().sum(1, keepdim=True) * s_w[None] / 2 + q.dequantized().abs().sum(1)[None] * s_x / 2
    assert ((y - yq).abs() <= bound + 1e-5).all()
    assert (y - yq).abs().max() > 0  # it did quantize
    w, scale = q.weight_int8()
    assert w.dtype == torch.int8 and torch.allclose(scale, s_w)


def test_quantized_model_logits_close_to_fp32(tiny_causal_dir):
    """Whole tiny model: max |Δlogit| within 5% of the largest fp32 logit (measured ~1.5%)."""
    from genlab.deploy import is_quantized, quantize
    from genlab.models import load

    lm = load(str(tiny_causal_dir), precision="fp32")
    with torch.no_grad():
        ref = lm.model(IDS).logits
        q = quantize(load(str(tiny_causal_dir), precision="fp32"))
        out = q.model(IDS).logits
    assert is_quantized(q.model) and not is_quantized(lm.model)
    assert 0 < (out - ref).abs().max() <= 0.05 * ref.abs().max()


def test_saved_int8_folder_reloads_through_the_registry_and_generates(tiny_causal_dir, home):
    from genlab.deploy import is_quantized, quantize, quantize_to
    from genlab.evaluation import score_rolling
    from genlab.generation import GenerationConfig, generate
    from genlab.models import load

    out = quantize_to(str(tiny_causal_dir), home / "int8")
    mem = quantize(load(str(tiny_causal_dir), precision="fp32"))
    back = load(str(out), precision="fp32")
    assert is_quantized(back.model)
    with torch.no_grad():
        assert torch.equal(back.model(IDS).logits, mem.model(IDS).logits)  # same int8 weights, same numbers
    disk = (out / "model.safetensors").stat().st_size
    assert disk < 0.8 * (tiny_causal_dir / "model.safetensors").stat().st_size
    auto = load(str(out))  # bf16 float parts where the CPU is fast at it: int8 layers cast in and out
    gens = generate(auto, ["Hello, how are you?"], GenerationConfig(max_new_tokens=6))
    assert gens[0].new_tokens[0] >= 1
    assert score_rolling(auto, ["The cat sat on the mat."], precision="auto")[0].num_tokens > 0


def test_refusals(tiny_causal_dir, home):
    from genlab.deploy import QuantizeConfig, quantize, quantize_to
    from genlab.models import load

    out = quantize_to(str(tiny_causal_dir), home / "int8")
    with pytest.raises(GenlabError, match="already quantized"):
        quantize(load(str(out), precision="fp32"))
    with pytest.raises(GenlabError, match="already exists"):
        quantize_to(str(tiny_causal_dir), out)
    before = (out / "model.safetensors").stat().st_mtime_ns
    quantize_to(str(tiny_causal_dir), out, force=True)
    assert (out / "model.safetensors").stat().st_mtime_ns != before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".int8")]  # no temporary left behind
    with pytest.raises(ConfigError, match="q4_0"):
        QuantizeConfig(scheme="int4")
    with pytest.raises(ConfigError, match="unknown scheme"):
        QuantizeConfig(scheme="int3")


def test_outlier_tokens_get_their_own_activation_scale():
    """One token 300x larger (an attention-sink token) must not flatten the others to a few int8 levels."""
    from genlab.deploy.int8 import from_linear

    torch.manual_seed(1)
    lin = torch.nn.Linear(64, 32)
    x = torch.randn(8, 64)
    x[0] *= 300
    q = from_linear(lin)
    with torch.no_grad():
        y, yq, one_scale = lin(x), q(x), q.inner(x)  # q.inner: fbgemm with one scale for the whole call
        assert (y[1:] - yq[1:]).abs().max() < 0.1 * (y[1:] - one_scale[1:]).abs().max()
        assert torch.equal(q(x[3:4]), q._matmul(x[3:4]))  # one row (decoding): one call, same numbers


def test_activations_keep_8_bits_where_the_cpu_accumulates_in_int32():
    """torch.ao's dynamic Linear quantizes activations to 7 bits (reduce_range) for CPUs that sum int8
    products in int16; with VNNI/AMX genlab keeps all 8 bits, and the error shrinks."""
    from genlab.deploy import int8

    if int8.REDUCE_RANGE:
        pytest.skip("this CPU has no int8 dot-product instructions (VNNI/AMX): 7-bit activations are right here")
    torch.manual_seed(3)
    lin = torch.nn.Linear(256, 128)
    x = torch.randn(1, 256)
    q = int8.from_linear(lin)
    with torch.no_grad():
        y = lin(x)
        err8, err7 = (q(x) - y).abs().mean(), (q.inner(x) - y).abs().mean()  # q.inner: torch.ao's 7-bit path
    assert err8 < 0.75 * err7, (err8, err7)


def test_smoothquant_moves_an_outlier_channel_into_the_weights():
    """One input channel 100x larger in every token (the LLM outlier pattern): per-token activation scales
    cannot help, SmoothQuant can. The smoothed layer computes the same function (dequantized weight ≈ W) and
    its error is several times smaller."""
    from genlab.deploy.int8 import from_linear, smoothing

    torch.manual_seed(2)
    lin = torch.nn.Linear(64, 32)
    x = torch.randn(16, 64)
    x[:, 5] *= 100
    s = smoothing(x.abs().amax(0), lin.weight, 0.5)
    plain, smooth = from_linear(lin), from_linear(lin, s)
    with torch.no_grad():
        y = lin(x)
        err_plain, err_smooth = (plain(x) - y).abs().mean(), (smooth(x) - y).abs().mean()
        assert torch.allclose(smooth.dequantized(), lin.weight, atol=float((lin.weight * s).abs().max() / 127))
    assert err_smooth < err_plain / 3, (err_smooth, err_plain)
    # α = 0: s_j = 1 / max|W_:,j| (all range to the activations); α = 1: s_j = max|X_j|
    assert torch.allclose(smoothing(x.abs().amax(0), lin.weight, 1.0), x.abs().amax(0))


def test_smoothed_layers_round_trip_and_can_be_turned_off(tiny_causal_dir, home):
    from genlab.deploy import QuantizeConfig, quantize_to
    from genlab.deploy.int8 import Int8Linear
    from genlab.models import load

    smoothed, plain = quantize_to(str(tiny_causal_dir), home / "s"), \
        quantize_to(str(tiny_causal_dir), home / "p", QuantizeConfig(smooth=None))
    layers = lambda p: [m for m in load(str(p), precision="fp32").model.modules() if isinstance(m, Int8Linear)]  # noqa: E731
    assert all(m.smooth_inv is not None for m in layers(smoothed))
    bf16 = [m for m in load(str(smoothed), precision="bf16").model.modules() if isinstance(m, Int8Linear)]
    assert bf16 and all(m.smooth_inv.dtype == torch.float32 for m in bf16)  # the float parts are bf16, not these
    assert all(m.smooth_inv is None for m in layers(plain))
    with pytest.raises(ConfigError, match="smooth"):
        QuantizeConfig(smooth=1.5)
