"""stepd.torch.StepdOptimizer against torch.optim.AdamW.

Without torch these tests skip, except where torch is required (see torch_or_skip)."""

import copy

import numpy as np
import pytest
import torch_or_skip


torch, StepdOptimizer, _TORCH_ERROR = torch_or_skip.load()


@pytest.fixture(autouse=True)
def _require_torch():
    torch_or_skip.fail_if_missing(_TORCH_ERROR)


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _data(n=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.randn(n, 2, generator=g)
    return x, y


def _assert_same(a, b, tol=2e-5):
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), rtol=tol, atol=tol, err_msg=na)


def test_drop_in_matches_torch_adamw(url):
    model = _model()
    ref = copy.deepcopy(model)
    opt = StepdOptimizer(model.named_parameters(), url=url, lr=0.01, betas=(0.9, 0.99), weight_decay=0.05, clip=1.0)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.01, betas=(0.9, 0.99), weight_decay=0.05)
    try:
        assert isinstance(opt, torch.optim.Optimizer)
        assert opt.names == ["0.weight", "0.bias", "2.weight", "2.bias"]
        assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["eps"] == 1e-8
        x, y = _data()
        for t in range(1, 7):
            for m, o in ((model, opt), (ref, ref_opt)):
                o.zero_grad()
                loss = torch.nn.functional.mse_loss(m(x), y)
                loss.backward()
                if o is ref_opt:
                    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
                o.step()
            assert opt.last_result.step == t
            _assert_same(model, ref)
        assert opt.session.history(last=1)["records"][0]["step"] == 6
    finally:
        opt.session.delete()


def test_closure_groups_and_lr_scheduler(url):
    model = _model(3)
    ref = copy.deepcopy(model)

    def groups(m):
        decay = [(n, p) for n, p in m.named_parameters() if n.endswith("weight")]
        no_decay = [(n, p) for n, p in m.named_parameters() if n.endswith("bias")]
        return decay, no_decay

    d, nd = groups(model)
    opt = StepdOptimizer([{"params": d}, {"params": nd, "weight_decay": 0.0, "name": "no_decay"}],
                         url=url, optimizer={"type": "adamw", "lr": 0.02, "weight_decay": 0.1})
    rd, rnd = groups(ref)
    ref_opt = torch.optim.AdamW([{"params": [p for _, p in rd]}, {"params": [p for _, p in rnd], "weight_decay": 0.0}],
                                lr=0.02, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=2, gamma=0.5)
    try:
        cfg = opt.session.info()["config"]
        assert [g["name"] for g in cfg["groups"]] == ["no_decay"] and cfg["groups"][0]["weight_decay"] == 0
        x, y = _data(seed=5)
        for t in range(1, 6):
            for m, o in ((model, opt), (ref, ref_opt)):
                def closure(m=m, o=o):
                    o.zero_grad()
                    loss = torch.nn.functional.mse_loss(m(x), y)
                    loss.backward()
                    return loss
                loss = o.step(closure)
                assert loss is not None
            sched.step()
            ref_sched.step()
            assert opt.last_result.lr == pytest.approx(0.02 * 0.5 ** ((t - 1) // 2))
            _assert_same(model, ref)
        assert opt.session.history(last=1)["records"][0]["loss"] == pytest.approx(loss.item())
    finally:
        opt.session.delete()


def test_attach_to_existing_session_pulls_params(url):
    model = _model(4)
    opt = StepdOptimizer(model.parameters(), url=url, lr=0.05)
    try:
        x, y = _data(seed=2)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        fresh = _model(99)
        opt2 = StepdOptimizer(fresh.parameters(), url=url, session=opt.session.id)
        assert opt2.names == ["param0", "param1", "param2", "param3"]
        _assert_same(fresh, model, 0)
        with pytest.raises(ValueError, match="declares"):
            StepdOptimizer(torch.nn.Linear(3, 3).parameters(), url=url, session=opt.session.id)
    finally:
        opt.session.delete()


def test_checkpoint_restores_model(url):
    model = _model(5)
    opt = StepdOptimizer(model.parameters(), url=url, lr=0.05)
    try:
        x, y = _data(seed=6)

        def train_step():
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()

        train_step()
        saved = opt.checkpoint()
        snapshot = copy.deepcopy(model)
        train_step()
        opt.restore_checkpoint(saved)
        _assert_same(model, snapshot, 0)
        assert opt.session.step_count == 1
    finally:
        opt.session.delete()
