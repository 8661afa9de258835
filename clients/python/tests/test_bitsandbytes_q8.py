"""stepd's q8 optimizer state against bitsandbytes itself (AdamW8bit on CPU, block-wise, 256 per
block, min_8bit_size 4096): the same steps land within the conformance case's tolerance, and a
checkpoint carries the codes, absmax and maps under bitsandbytes' own names, so a bitsandbytes
user can read them straight into its optimizer state."""


import numpy as np
import pytest

import torch_or_skip
from stepd import Session

torch, _, _TORCH_ERROR = torch_or_skip.load()


@pytest.fixture(autouse=True)
def _require_torch():
    torch_or_skip.fail_if_missing(_TORCH_ERROR)


def _safetensors(data):
    from safetensors.numpy import load
    return load(data)


def test_q8_adamw_matches_bitsandbytes_adamw8bit_and_its_checkpoint_uses_its_names(url):
    bnb = torch_or_skip.reference_module("bitsandbytes")
    rng = np.random.default_rng(7)
    # w keeps 8-bit state (5120 elements, 20 blocks); b stays float32 (under 4096 elements).
    w0 = rng.standard_normal((40, 128)).astype(np.float32)
    b0 = rng.standard_normal(300).astype(np.float32)
    grads = [(rng.standard_normal((40, 128)).astype(np.float32), rng.standard_normal(300).astype(np.float32))
             for _ in range(8)]
    hyper = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    w, b = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))
    reference = bnb.optim.AdamW8bit([w, b], min_8bit_size=4096, **hyper)
    for gw, gb in grads:
        w.grad, b.grad = torch.tensor(gw), torch.tensor(gb)
        reference.step()

    s = Session.create(url, optimizer={"type": "adamw", "lr": hyper["lr"], "betas": list(hyper["betas"]), "eps": hyper["eps"],
                                       "weight_decay": hyper["weight_decay"], "state_dtype": "q8"},
                       params={"w": w0, "b": b0})
    try:
        for gw, gb in grads:
            s.step({"w": gw, "b": gb})
        got = s.params()
        # The conformance case's tolerance (adamw_q8: atol 2e-3, 95% of codes equal).
        np.testing.assert_allclose(got["w"], w.detach().numpy(), rtol=0, atol=2e-3)
        np.testing.assert_allclose(got["b"], b.detach().numpy(), rtol=0, atol=2e-3)

        ck = _safetensors(s.checkpoint())
        state = reference.state[w]
        for k in (1, 2):
            assert ck[f"state.w.state{k}"].dtype == np.uint8 and ck[f"state.w.state{k}"].shape == (40, 128)
            np.testing.assert_array_equal(ck[f"state.w.qmap{k}"], state[f"qmap{k}"].numpy())
            same = np.mean(ck[f"state.w.state{k}"] == state[f"state{k}"].numpy())
            assert same >= 0.95, f"state{k}: {same:.3f} of codes equal bitsandbytes'"
            np.testing.assert_allclose(ck[f"state.w.absmax{k}"], state[f"absmax{k}"].numpy(), rtol=0.02)
        # The small tensor's state is float32 under torch's names, as bitsandbytes keeps it.
        np.testing.assert_allclose(ck["state.b.exp_avg"], reference.state[b]["state1"].numpy(), rtol=0, atol=1e-6)
        assert "state.b.state1" not in ck
    finally:
        s.delete()
