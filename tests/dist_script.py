"""Run under `torchrun` by tests/test_distributed.py (and once as a plain process for the
reference): the analysis computations that split over ranks, on a tiny LeNet.

    python -m torch.distributed.run --nproc-per-node 2 ... tests/dist_script.py OUT.pt

Computes the Hessian-vector product, gradient and loss of the HVP operator, the top
Lanczos eigenvalues, a loss surface and a mode-connectivity curve; rank 0 saves them."""

from __future__ import annotations

import sys

import torch

from advland import distributed
from advland.analysis.hessian.hvp import HessianOperator
from advland.analysis.hessian.lanczos import lanczos
from advland.analysis.landscape.bezier import BezierCurve
from advland.analysis.landscape.curve_eval import curve_metrics
from advland.analysis.landscape.curve_types import CurveConfig
from advland.analysis.landscape.surface import compute_surface
from advland.analysis.landscape.surface_types import SurfaceConfig
from advland.analysis.params import flatten, trainable
from advland.attacks.spec import AttackConfig
from advland.models import build_model


def lenet(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("lenet", width=1, image_size=12)


def compute() -> dict:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(150, 1, 12, 12, generator=g), torch.randint(0, 10, (150,), generator=g)
    model = lenet(0)
    op = HessianOperator(model, x, y, batch_size=32)
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(1))
    eig = lanczos(op, k=2, tol=1e-4, generator=torch.Generator().manual_seed(2))
    surface_cfg = SurfaceConfig(
        n1=3,
        n2=3,
        eps=(0.0, 0.1),
        attack=AttackConfig(eps=0.1, steps=2),
        batch_size=50,
        points_per_batch=2,
        mode="loop",
        seed=5,
    )
    surface = compute_surface(model, (x[:60], y[:60]), surface_cfg)
    curve = BezierCurve(lenet(0), lenet(1), order=2)
    curve_cfg = CurveConfig(attack=AttackConfig(eps=0.1, steps=2), num_t=5, batch_size=50)
    cm = curve_metrics(curve, (x[:60], y[:60]), (x[60:120], y[60:120]), curve_cfg)
    return {
        "hvp": op.matvec(v),
        "matmat": op.matmat(torch.stack([v, 2 * v])),
        "gradient": flatten(op.gradient()),
        "loss": op.loss(),
        "eigenvalues": eig.eigenvalues,
        "surface_loss": torch.from_numpy(surface.loss),
        "surface_error": torch.from_numpy(surface.error),
        "curve": {k: list(v) for k, v in cm.metrics.items()},
        "params": sum(p.numel() for p in trainable(model)),
    }


if __name__ == "__main__":
    distributed.init()
    try:
        result = compute()
        result["world"] = distributed.world_size()
        if distributed.is_main():
            torch.save(result, sys.argv[1])
    finally:
        distributed.destroy()
