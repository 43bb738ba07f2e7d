"""Write tests/fixtures/torch_mlp.npz: what torch computes for a few small MLPs, in float64.

For each case: the inputs and initial weights, the loss and gradients of one forward/backward
pass, and the loss before each of several SGD and Adam steps plus the weights after them.
tests/test_networks.py checks course_lib against this file, and against torch live when torch
is installed. Regenerate with ``.venv/bin/python tests/make_torch_mlp_fixture.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).parent / "fixtures" / "torch_mlp.npz"
BATCH = 10
STEPS = 5
SGD_LR = 0.1
ADAM = {"lr": 0.01, "beta1": 0.8, "beta2": 0.888, "eps": 1e-3}  # non-defaults on purpose
CASES = {
    "relu_ce_labels": {"sizes": (6, 8, 7, 4), "activation": "relu", "loss": "cross_entropy",
                       "one_hot": False},
    "tanh_ce_onehot": {"sizes": (6, 5, 4), "activation": "tanh", "loss": "cross_entropy",
                       "one_hot": True},
    "sigmoid_mse": {"sizes": (6, 8, 3), "activation": "sigmoid", "loss": "mse",
                    "one_hot": False},
}


def make_inputs(case: dict, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs, targets and weights W{i} of shape (in, out), b{i} of shape (out,)."""
    rng = np.random.default_rng(seed)
    sizes = case["sizes"]
    arrays = {"x": rng.standard_normal((BATCH, sizes[0]))}
    if case["loss"] == "mse":
        arrays["t"] = rng.standard_normal((BATCH, sizes[-1]))
    else:
        labels = rng.integers(0, sizes[-1], size=BATCH)
        arrays["t"] = np.eye(sizes[-1])[labels] if case["one_hot"] else labels
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
        arrays[f"W{i}"] = 0.6 * rng.standard_normal((n_in, n_out))
        arrays[f"b{i}"] = 0.1 * rng.standard_normal(n_out)
    return arrays


def torch_reference(case: dict, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """torch's loss, gradients, and SGD/Adam trajectories for ``inputs`` (all float64)."""
    import torch

    out = {}
    model, loss_fn = _torch_model(case, inputs)
    x, t = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["t"])
    loss = loss_fn(model(x), t)
    loss.backward()
    out["loss"] = np.array(loss.item())
    for key, p in _named(model).items():
        out[f"grad_{key}"] = _to_course(key, p.grad)
    for opt_name in ("sgd", "adam"):
        model, loss_fn = _torch_model(case, inputs)
        if opt_name == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=SGD_LR)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"],
                                   betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = loss_fn(model(x), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[f"{opt_name}_losses"] = np.array(losses)
        for key, p in _named(model).items():
            out[f"{opt_name}_{key}"] = _to_course(key, p.detach())
    return out


def _torch_model(case: dict, inputs: dict[str, np.ndarray]):
    import torch

    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    sizes = case["sizes"]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
        linear = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():  # torch keeps W as (out, in): the transpose of course_lib's
            linear.weight.copy_(torch.from_numpy(inputs[f"W{i}"].T.copy()))
            linear.bias.copy_(torch.from_numpy(inputs[f"b{i}"]))
        layers.append(linear)
        if i < len(sizes) - 1:
            layers.append(act[case["activation"]]())
    loss_fn = torch.nn.MSELoss() if case["loss"] == "mse" else torch.nn.CrossEntropyLoss()
    return torch.nn.Sequential(*layers), loss_fn


def _named(model) -> dict:
    import torch

    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    named = {}
    for i, linear in enumerate(linears, 1):
        named[f"W{i}"], named[f"b{i}"] = linear.weight, linear.bias
    return named


def _to_course(key: str, tensor) -> np.ndarray:
    a = tensor.detach().numpy().copy()
    return a.T.copy() if key.startswith("W") else a


def main() -> None:
    """Compute every case from seed 0 and save them, keys ``case__name``."""
    arrays = {}
    for name, case in CASES.items():
        inputs = make_inputs(case, seed=0)
        for key, value in {**inputs, **torch_reference(case, inputs)}.items():
            arrays[f"{name}__{key}"] = value
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
