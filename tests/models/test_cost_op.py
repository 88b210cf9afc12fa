"""The CoST operation against the paper's formula (Eq. 1-3) and its degenerate cases."""

import pytest
import torch
import torch.nn.functional as F

from cost.models import CoST, fold_views


def explicit_cost(x, weights, coefficients, stride=1):
    """Eq. 1-3 written out: three conv3d calls with planar kernels, mixed per channel."""
    w_hw, w_tw, w_th = weights
    s = (1, stride, stride)
    x_hw = F.conv3d(x, w_hw[:, :, None, :, :], stride=s, padding=(0, 1, 1))
    x_tw = F.conv3d(x, w_tw[:, :, :, None, :], stride=s, padding=(1, 0, 1))
    x_th = F.conv3d(x, w_th[:, :, :, :, None], stride=s, padding=(1, 1, 0))
    a = coefficients[:, :, :, None, None, None]
    return a[:, :, 0] * x_hw + a[:, :, 1] * x_tw + a[:, :, 2] * x_th


def all_weights(op):
    if op.share_weights:
        return op.weight, op.weight, op.weight
    return op.weight, op.weight_tw, op.weight_th


@pytest.mark.parametrize("impl", ["reference", "conv2d", "auto"])
@pytest.mark.parametrize("mode", ["a", "b"])
@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_forward_equals_explicit_formula(impl, mode, share, stride):
    torch.manual_seed(0)
    op = CoST(6, 10, mode=mode, stride=stride, share_weights=share, impl=impl).train()
    if mode == "a":  # distinct coefficients per channel, so a mix-up of channels would show
        op.coef_logits.data = torch.randn(10, 3)
    x = torch.randn(2, 6, 5, 9, 11)
    y = op(x)
    a = op.coefficients
    assert a.shape == (2, 10, 3)
    torch.testing.assert_close(a.sum(dim=2), torch.ones(2, 10))
    expected = explicit_cost(x, all_weights(op), a, stride)
    assert y.shape == expected.shape == (2, 10, 5, (9 - 1) // stride + 1, (11 - 1) // stride + 1)
    if impl == "reference":
        torch.testing.assert_close(y, expected, rtol=0, atol=0)
    else:
        torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(8, 8), (9, 12)])
def test_conv2d_views_match_conv3d_views_forward_and_backward(share, stride, size):
    """The 2D-convolution path is the same function: outputs and all gradients agree
    (float64, so only summation order can differ)."""
    torch.manual_seed(0)
    op = CoST(5, 7, mode="b", stride=stride, share_weights=share).double()
    x = torch.randn(2, 5, 4, *size, dtype=torch.float64)
    results = {}
    for impl in ("reference", "conv2d"):
        op.zero_grad()
        xi = x.clone().requires_grad_()
        op.impl = impl
        y = op(xi)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads = [p.grad.clone() for p in op.parameters()]
        results[impl] = (y.detach(), xi.grad, grads)
    (y_ref, gx_ref, gp_ref), (y_2d, gx_2d, gp_2d) = results["reference"], results["conv2d"]
    tight = dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y_2d, y_ref, **tight)
    torch.testing.assert_close(gx_2d, gx_ref, **tight)
    for a, b in zip(gp_2d, gp_ref):
        torch.testing.assert_close(a, b, **tight)


@pytest.mark.parametrize("stride", [1, 2])
def test_batched_temporal_views_match(stride):
    from cost.models.cost_op import views_conv2d

    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 5, 10, 10, dtype=torch.float64), torch.randn(4, 3, 3, 3, dtype=torch.float64)
    for a, b in zip(views_conv2d(x, (w, w, w), stride, True), views_conv2d(x, (w, w, w), stride, False)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_auto_picks_fused_only_for_cost_a_in_eval():
    op_a, op_b = CoST(2, 2, mode="a"), CoST(2, 2, mode="b")
    assert op_a.train()._path() == "reference" and op_b.train()._path() == "reference"
    assert op_a.eval()._path() == "fused" and op_b.eval()._path() == "reference"
    assert op_a._path(torch.empty(1, 2, 4, 14, 14)) == "fused"
    assert op_a._path(torch.empty(1, 2, 4, 7, 7)) == "reference"  # measured no faster when folded
    assert CoST(2, 2, mode="b", impl="fused").eval()._path() == "reference"  # nothing to fold
    assert CoST(2, 2, mode="a", impl="conv2d").eval()._path() == "conv2d"


def test_cost_a_coefficients_start_at_the_authors_init():
    op = CoST(4, 8, mode="a")
    op(torch.randn(1, 4, 3, 5, 5))
    expected = torch.softmax(torch.tensor([0.7, -0.7, -0.7]), 0)
    torch.testing.assert_close(op.coefficients, expected.expand(1, 8, 3))
    assert abs(expected[0].item() - 0.67) < 0.01 and abs(expected[1].item() - 0.16) < 0.01


def test_cost_b_coefficients_depend_on_the_clip():
    torch.manual_seed(0)
    op = CoST(4, 8, mode="b")
    with torch.no_grad():  # larger than the N(0, 0.01) init so the difference is visible
        op.coef_proj.weight.normal_(0, 1)
        op.coef_fc.weight.normal_(0, 1)
    op(torch.randn(2, 4, 4, 6, 6))
    a = op.coefficients
    assert a.shape == (2, 8, 3)
    assert not torch.allclose(a[0], a[1])


def test_cost_b_pools_view_features_before_mixing():
    """CoST(b) coefficients: max pool each view -> shared C->C matrix -> shared 3->3 FC -> softmax."""
    torch.manual_seed(1)
    op = CoST(3, 5, mode="b")
    x = torch.randn(2, 3, 4, 6, 6)
    op(x)
    views = [
        F.conv3d(x, op.weight[:, :, None], padding=(0, 1, 1)),
        F.conv3d(x, op.weight[:, :, :, None], padding=(1, 0, 1)),
        F.conv3d(x, op.weight[..., None], padding=(1, 1, 0)),
    ]
    pooled = [v.flatten(2).max(dim=2).values for v in views]  # N x C each
    projected = torch.stack([p @ op.coef_proj.weight.T for p in pooled], dim=2)  # N x C x 3
    expected = torch.softmax(projected @ op.coef_fc.weight.T, dim=2)
    torch.testing.assert_close(op.coefficients, expected)


def test_parameter_counts_match_the_paper():
    c_in, c_out = 7, 12
    planar = c_out * c_in * 9
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(CoST(c_in, c_out, mode="a")) == planar + 3 * c_out
    assert count(CoST(c_in, c_out, mode="b")) == planar + c_out * c_out + 9
    assert count(CoST(c_in, c_out, mode="b", share_weights=False)) == 3 * planar + c_out * c_out + 9


@pytest.mark.parametrize("stride", [1, 2])
def test_hw_only_coefficients_give_a_1x3x3_convolution(stride):
    torch.manual_seed(0)
    op = CoST(5, 6, mode="a", stride=stride, share_weights=False, impl="fused").train()
    with torch.no_grad():
        op.coef_logits.copy_(torch.tensor([0.0, -float("inf"), -float("inf")]).expand(6, 3))
    x = torch.randn(2, 5, 4, 8, 8)
    y = op(x)
    torch.testing.assert_close(op.coefficients, torch.tensor([1.0, 0.0, 0.0]).expand(2, 6, 3))
    conv = F.conv3d(x, op.weight[:, :, None], stride=(1, stride, stride), padding=(0, 1, 1))
    assert torch.equal(y, conv)
    op.eval()  # the folded kernel gives the same map up to summation order
    torch.testing.assert_close(op(x), conv, rtol=1e-5, atol=1e-5)


def test_folded_kernel_has_19_taps_and_zero_corners():
    w = torch.randn(2, 3, 3, 3)
    k = fold_views((w, w, w), torch.full((2, 3), 1 / 3))
    nonzero = (k[0, 0] != 0).sum().item()
    assert nonzero == 19
    for t in (0, 2):
        for h in (0, 2):
            for w_ in (0, 2):
                assert torch.all(k[:, :, t, h, w_] == 0)


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_fused_eval_equals_three_views(share, stride):
    torch.manual_seed(0)
    op = CoST(8, 16, mode="a", stride=stride, share_weights=share, impl="fused")
    with torch.no_grad():
        op.coef_logits.normal_()
    x = torch.randn(2, 8, 6, 10, 12)
    op.eval()
    assert op._path() == "fused"
    fused = op(x)
    op.impl = "reference"
    reference = op(x)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused, explicit_cost(x, all_weights(op), op.coefficients, stride), rtol=1e-5, atol=1e-5)


def test_fused_eval_follows_optimizer_steps_and_loads():
    torch.manual_seed(0)
    op = CoST(4, 8, mode="a", impl="fused")
    x = torch.randn(2, 4, 5, 7, 7)
    opt = torch.optim.SGD(op.parameters(), lr=0.5)
    op.eval()
    before = op(x).detach()

    op.train()
    loss = op(x).pow(2).mean()
    loss.backward()
    opt.step()

    op.eval()
    after = op(x)
    assert not torch.allclose(after, before, atol=1e-3), "the step must change the fused output"
    reference = explicit_cost(x, all_weights(op), torch.softmax(op.coef_logits, 1).expand(2, -1, -1))
    torch.testing.assert_close(after, reference, rtol=1e-5, atol=1e-5)

    fresh = CoST(4, 8, mode="a", impl="fused").eval()
    fresh(x)  # run once with its own weights, then load
    fresh.load_state_dict(op.state_dict())
    torch.testing.assert_close(fresh(x), after, rtol=0, atol=0)


def test_cached_fold_never_goes_stale():
    """Under no_grad the folded kernel is cached; every way the parameters change rebuilds it."""
    torch.manual_seed(0)
    op = CoST(4, 8, mode="a", impl="fused").eval()
    x = torch.randn(2, 4, 5, 7, 7)

    def check():
        with torch.no_grad():
            out = op(x)
        expected = explicit_cost(x, all_weights(op), torch.softmax(op.coef_logits, 1).expand(2, -1, -1).detach())
        torch.testing.assert_close(out, expected.detach(), rtol=1e-5, atol=1e-5)
        return out

    first = check()
    with torch.no_grad():
        assert op.folded_kernel() is op.folded_kernel(), "no_grad calls must reuse the kernel"
    assert op.folded_kernel().requires_grad, "with autograd on, the kernel is built fresh"

    opt = torch.optim.SGD(op.parameters(), lr=0.5)  # a step while still in eval mode
    op(x).pow(2).mean().backward()
    opt.step()
    assert not torch.allclose(check(), first, atol=1e-3)
    with torch.no_grad():
        op.coef_logits[:, 1] += 3.0  # in-place edit under no_grad
    check()
    op.load_state_dict(CoST(4, 8, mode="a").state_dict())
    check()
    op.weight.data.mul_(-1)  # invisible to version counters: eval() clears the cache
    op.eval()
    check()
    op.double()
    with torch.inference_mode():
        out = op(x.double())
    torch.testing.assert_close(
        out,
        explicit_cost(
            x.double(), all_weights(op), torch.softmax(op.coef_logits, 1).expand(2, -1, -1).detach()
        ).detach(),
    )


@pytest.mark.parametrize("mode", ["a", "b"])
def test_gradients_reach_weight_and_coefficients(mode):
    torch.manual_seed(0)
    op = CoST(4, 6, mode=mode)
    op(torch.randn(2, 4, 4, 6, 6)).square().mean().backward()
    assert op.weight.grad is not None and op.weight.grad.abs().sum() > 0
    coef_params = [op.coef_logits] if mode == "a" else [op.coef_proj.weight, op.coef_fc.weight]
    for p in coef_params:
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_unshared_views_get_their_own_gradients():
    torch.manual_seed(0)
    op = CoST(4, 6, mode="b", share_weights=False)
    with torch.no_grad():  # start from one weight, as ImageNet inflation does
        op.weight_tw.copy_(op.weight)
        op.weight_th.copy_(op.weight)
    op(torch.randn(2, 4, 4, 6, 6)).square().mean().backward()
    grads = [op.weight.grad, op.weight_tw.grad, op.weight_th.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert not torch.allclose(grads[0], grads[1])
    assert not torch.allclose(grads[0], grads[2])
    assert not torch.allclose(grads[1], grads[2])


def test_bad_mode_or_impl_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        CoST(4, 4, mode="c")
    with pytest.raises(ValueError, match="^impl='cuda': choose one of"):  # its own argument
        CoST(4, 4, impl="cuda")


def _known_answer_op(impl: str = "reference") -> CoST:
    """One channel, three separate weights with one tap each (float64), CoST(a) with
    coefficients 0.5 / 0.3 / 0.2: H-W copies x, T-W reads the previous frame, T-H is 100 x."""
    op = CoST(1, 1, mode="a", share_weights=False, impl=impl).double()
    with torch.no_grad():
        for w in (op.weight, op.weight_tw, op.weight_th):
            w.zero_()
        op.weight[0, 0, 1, 1] = 1.0  # H-W kernel 1x3x3: the centre tap
        op.weight_tw[0, 0, 0, 1] = 1.0  # T-W kernel 3x1x3: first axis is time, tap at t-1
        op.weight_th[0, 0, 1, 1] = 100.0  # T-H kernel 3x3x1: the centre tap, times 100
        op.coef_logits.copy_(torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64).log())
    return op


@pytest.mark.parametrize("impl", ["reference", "conv2d", "fused"])
def test_view_mask_known_answer(impl):
    """Zeroing views leaves exactly the other views' terms, not renormalised (by hand:
    x_hw = x, x_tw = x one frame earlier with a zero first frame, x_th = 100 x)."""
    op = _known_answer_op(impl).eval()
    x = torch.arange(1, 1 + 4 * 3 * 5, dtype=torch.float64).view(1, 1, 4, 3, 5)
    previous = torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, :-1]], dim=2)
    expected = {
        None: 0.5 * x + 0.3 * previous + 0.2 * 100 * x,
        (1.0, 0.0, 0.0): 0.5 * x,
        (0.0, 1.0, 1.0): 0.3 * previous + 20 * x,
        (0.0, 1.0, 0.0): 0.3 * previous,
    }
    with torch.no_grad():
        for mask, want in expected.items():
            op.view_mask = mask
            torch.testing.assert_close(op(x), want, rtol=1e-12, atol=1e-9)
            # the coefficients the layer computed, for logging: unmasked
            torch.testing.assert_close(op.coefficients[0, 0], torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))


def test_view_mask_cost_b_keeps_computed_coefficients():
    torch.manual_seed(0)
    op = CoST(3, 4, mode="b")
    x = torch.randn(2, 3, 4, 6, 6)
    x_hw, x_tw, x_th = op.view_outputs(x)
    op.view_mask = (1.0, 0.0, 0.0)
    y = op(x)
    a = op.coefficients
    torch.testing.assert_close(a.sum(dim=2), torch.ones(2, 4))  # the softmax output, unmasked
    torch.testing.assert_close(y, a[:, :, 0, None, None, None] * x_hw)
    op.view_mask = (0.0, 1.0, 1.0)
    y = op(x)
    torch.testing.assert_close(y, a[:, :, 1, None, None, None] * x_tw + a[:, :, 2, None, None, None] * x_th)
    # the branch magnitude: RMS of the max-pooled views that feed the coefficient branch
    pooled = torch.stack([v.amax(dim=(2, 3, 4)) for v in (x_hw, x_tw, x_th)], dim=2)
    torch.testing.assert_close(op.branch_magnitude, pooled.pow(2).mean(dim=(1, 2)).sqrt())
