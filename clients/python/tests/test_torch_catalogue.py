"""The torch drop-in with every optimizer of the catalogue, against the reference
implementation: torch.optim, lion-pytorch, schedulefree and optax. Where the reference is reproducible
(no square root, no clipping) the parameters must be identical bit for bit after every step;
elsewhere within a float32 tolerance."""

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
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randn(n, 3, generator=g)


def _lion(params, **kw):
    lion_pytorch = torch_or_skip.reference_module("lion_pytorch")
    return lion_pytorch.Lion(params, **kw)


def _schedule_free(params, **kw):
    schedulefree = torch_or_skip.reference_module("schedulefree")
    opt = schedulefree.AdamWScheduleFree(params, foreach=False, **kw)
    opt.train()
    return opt


def _optim(name):
    return lambda params, **kw: getattr(torch.optim, name)(params, **kw)


# (stepd type, reference constructor, hyperparameters, exact)
CASES = [
    ("sgd", _optim("SGD"), dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), True),
    ("sgd", _optim("SGD"), dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), True),
    ("adamax", _optim("Adamax"), dict(lr=0.01, weight_decay=0.01), True),
    ("asgd", _optim("ASGD"), dict(lr=0.05, lambd=1e-3, t0=3.0, weight_decay=0.01), True),
    ("rprop", _optim("Rprop"), dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0)), True),
    ("lion", _lion, dict(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1), True),
    ("adadelta", _optim("Adadelta"), dict(lr=1.0, rho=0.9, weight_decay=0.01), False),
    ("nadam", _optim("NAdam"), dict(lr=0.01, weight_decay=0.01, decoupled_weight_decay=True), False),
    ("radam", _optim("RAdam"), dict(lr=0.01, weight_decay=0.01), False),
    ("adamw", _optim("AdamW"), dict(lr=0.01, weight_decay=0.05, amsgrad=True), False),
    ("rmsprop", _optim("RMSprop"), dict(lr=0.01, momentum=0.5, centered=True), False),
    ("adagrad", _optim("Adagrad"), dict(lr=0.05, lr_decay=0.01), False),
    ("schedule_free_adamw", _schedule_free, dict(lr=0.01, warmup_steps=3, weight_decay=0.01), False),
    ("adafactor", _optim("Adafactor"), dict(lr=0.01, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.01), False),
    ("adafactor", _optim("Adafactor"), dict(lr=0.02, eps=(1e-20, 1e-3), d=2.0, maximize=True), False),
]


def _compare(model, ref, exact, label):
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        a, b = p.detach().numpy(), q.detach().numpy()
        if exact:
            differ = int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))
            assert differ == 0, f"{label} {name}: {differ} of {a.size} elements differ from the reference's bits"
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{label} {name}")


@pytest.mark.parametrize("type_name,make,hyper,exact", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_drop_in_matches_reference(url, type_name, make, hyper, exact):
    model = _model()
    ref = copy.deepcopy(model)
    ref_opt = make(ref.parameters(), **hyper)
    opt = StepdOptimizer(model.named_parameters(), url=url, optimizer={"type": type_name, **hyper})
    try:
        x, y = _data()
        for t in range(1, 21):
            for m, o in ((model, opt), (ref, ref_opt)):
                o.zero_grad()
                torch.nn.functional.mse_loss(m(x), y).backward()
                o.step()
            _compare(model, ref, exact, f"{type_name} step {t}")
        if type_name == "asgd":
            average = opt.session.params(view="average")
            for name, p in model.named_parameters():
                ax = ref_opt.state[dict(ref.named_parameters())[name]]["ax"].numpy()
                assert np.array_equal(average[name].view(np.uint32), ax.view(np.uint32)), name
        if type_name == "schedule_free_adamw":
            x_eval = opt.session.params(view="eval")
            ref_opt.eval()
            for name, p in ref.named_parameters():
                np.testing.assert_allclose(x_eval[name], p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    finally:
        opt.session.delete()


def test_transformer_with_nesterov_sgd_is_identical_to_torch_for_150_steps(url):
    """The issue's yardstick: a small transformer trained through the drop-in with SGD and
    Nesterov momentum lands on torch.optim.SGD's parameters bit for bit, step after step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Embedding(50, 32),
        torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True),
        torch.nn.Linear(32, 50))
    ref = copy.deepcopy(model)
    hyper = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    ref_opt = torch.optim.SGD(ref.parameters(), **hyper)
    opt = StepdOptimizer(model.named_parameters(), url=url, optimizer={"type": "sgd", **hyper})
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 50, (8, 12), generator=g)
    try:
        for t in range(150):
            for m, o in ((model, opt), (ref, ref_opt)):
                o.zero_grad()
                logits = m(tokens[:, :-1])
                torch.nn.functional.cross_entropy(logits.reshape(-1, 50), tokens[:, 1:].reshape(-1)).backward()
                o.step()
            if t % 25 == 24 or t == 149:
                _compare(model, ref, True, f"transformer step {t + 1}")
    finally:
        opt.session.delete()


def test_hyper_keys_cover_every_field_of_the_catalogue():
    from pathlib import Path

    import yaml

    from stepd import torch as stepd_torch

    spec = yaml.safe_load((Path(__file__).resolve().parents[3] / "openapi" / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    fields = set()
    for ref in schemas["Optimizer"]["discriminator"]["mapping"].values():
        fields |= set(schemas[ref.rsplit("/", 1)[1]]["properties"]) - {"type"}
    assert fields <= set(stepd_torch._HYPER_KEYS), sorted(fields - set(stepd_torch._HYPER_KEYS))


def _muon_hybrid_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(20, 16), torch.nn.Linear(16, 32), torch.nn.GELU(),
                               torch.nn.Linear(32, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 20))


def _hybrid_split(model):
    """torch's recipe: Muon on the hidden matrices, AdamW on embeddings, biases, norms and the head."""
    named = list(model.named_parameters())
    hidden = [(n, p) for n, p in named if p.ndim == 2 and n.split(".")[0] in ("1", "3")]
    rest = [(n, p) for n, p in named if (n, p) not in hidden]
    return hidden, rest


def test_muon_hybrid_groups_match_torch_muon_plus_adamw(url):
    """A group with "type": "muon" next to AdamW lands where torch.optim.Muon and AdamW, stepped
    together, do. torch runs Newton-Schulz in bfloat16 and stepd in float32, so the comparison
    has the conformance case's tolerance (atol 5e-3)."""
    model = _muon_hybrid_model()
    ref = copy.deepcopy(model)
    hidden, rest = _hybrid_split(model)
    ref_hidden, ref_rest = _hybrid_split(ref)
    muon = dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.01)
    adamw = dict(lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)
    ref_opts = [torch.optim.Muon([p for _, p in ref_hidden], **muon),
                torch.optim.AdamW([p for _, p in ref_rest], foreach=False, **adamw)]
    opt = StepdOptimizer([{"params": hidden, "name": "matrices", "type": "muon", **muon}, {"params": rest}],
                         url=url, optimizer={"type": "adamw", **adamw})
    g = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, 20, (16, 8), generator=g)
    try:
        assert opt.param_groups[0]["ns_steps"] == 5 and "amsgrad" not in opt.param_groups[0]
        for t in range(1, 21):
            for m, optimizers in ((model, [opt]), (ref, ref_opts)):
                for o in optimizers:
                    o.zero_grad()
                logits = m(tokens[:, :-1])
                torch.nn.functional.cross_entropy(logits.reshape(-1, 20), tokens[:, 1:].reshape(-1)).backward()
                for o in optimizers:
                    o.step()
            for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0, atol=5e-3,
                                           err_msg=f"muon hybrid step {t} {name}")
        opt.param_groups[0]["lr"] = 0.01  # a PATCH of the typed group keeps its type
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(tokens[:, :-1]).reshape(-1, 20), tokens[:, 1:].reshape(-1)).backward()
        opt.step()
        groups = opt.session.summary["config"]["groups"]
        assert groups[0]["type"] == "muon" and groups[0]["lr"] == 0.01, groups
    finally:
        opt.session.delete()


def test_muon_refuses_a_tensor_that_is_not_a_matrix(url):
    import stepd
    bias = torch.nn.Parameter(torch.zeros(4))
    with pytest.raises(stepd.StepdError) as e:
        StepdOptimizer([{"params": [("bias", bias)], "type": "muon"}], url=url)
    assert e.value.status == 422 and "bias" in str(e.value) and "2-D" in str(e.value)


def test_lamb_matches_optax(url):
    """`lamb` against optax.lamb stepping a copy of the model on the same gradients (clipped by
    the session and by hand alike), under a warmup schedule."""
    optax = torch_or_skip.reference_module("optax")
    import jax.numpy as jnp

    model = _model()
    ref = copy.deepcopy(model)
    hyper = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0, weight_decay=0.01)
    schedule = {"type": "warmup_linear", "warmup_steps": 3, "total_steps": 20, "min_lr_ratio": 0.0}
    opt = StepdOptimizer(model.named_parameters(), url=url, optimizer={"type": "lamb", **hyper}, schedule=schedule,
                         clip=1.0)
    names = [n for n, _ in ref.named_parameters()]
    lrs = [0.01 * (t / 3 if t < 3 else 1 - (t - 3) / 17) for t in range(20)]
    tx = optax.lamb(learning_rate=lambda count: jnp.asarray(lrs)[count], b1=0.9, b2=0.999, eps=1e-6,
                    eps_root=0.0, weight_decay=0.01)
    params = {n: jnp.asarray(p.detach().numpy()) for n, p in ref.named_parameters()}
    state = tx.init(params)
    x, y = _data()
    try:
        for t in range(1, 21):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            ref.zero_grad()
            torch.nn.functional.mse_loss(ref(x), y).backward()
            torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
            grads = {n: jnp.asarray(p.grad.numpy()) for n, p in ref.named_parameters()}
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            with torch.no_grad():
                for n, p in ref.named_parameters():
                    p.copy_(torch.from_numpy(np.array(params[n])))
            for n, p in model.named_parameters():
                np.testing.assert_allclose(p.detach().numpy(), np.asarray(params[n]), rtol=1e-4, atol=1e-5,
                                           err_msg=f"lamb step {t} {n}")
        assert names == opt.names
    finally:
        opt.session.delete()


def test_a_torch_groups_state_dtype_reaches_the_server_and_changing_it_converts_the_state(url):
    """`state_dtype` is a group key like lr: set on a torch group it becomes the stepd group's,
    and assigning a new one between steps PATCHes the session, which converts the state."""
    torch.manual_seed(0)
    big = torch.nn.Parameter(torch.randn(64, 80))   # 5120 elements: q8 applies (>= 4096)
    bias = torch.nn.Parameter(torch.zeros(80))
    opt = StepdOptimizer([{"params": [("w", big)], "state_dtype": "q8"}, {"params": [("b", bias)]}],
                         url=url, optimizer={"type": "adamw", "lr": 1e-2})
    try:
        groups = {g["name"]: g for g in opt.session.summary["config"]["groups"]}
        assert groups["group0"]["state_dtype"] == "q8"
        assert opt.param_groups[1]["state_dtype"] == "f32"
        for _ in range(2):
            opt.zero_grad()
            (big.sum() + bias.sum()).backward()
            opt.step()
        opt.param_groups[0]["state_dtype"] = "bf16"
        opt.zero_grad()
        (big.sum() + bias.sum()).backward()
        opt.step()
        summary = opt.session.client.session(opt.session.id).summary
        groups = {g["name"]: g for g in summary["config"]["groups"]}
        assert groups["group0"]["state_dtype"] == "bf16"
        assert summary["step"] == 3
    finally:
        opt.session.delete()
