"""Time the top-20 Hessian eigenvalues (Lanczos) of a ResNet18 w=8 at the paper's subset size.

    python -m benchmarks.gpu_lanczos [--out gpu_lanczos.json] [--subset 5000] [--k 20]
    python -m benchmarks.gpu_lanczos --dry-run      # same code path, tiny, on the CPU

Fig. 2's full scale: the adversarial loss of a CIFAR-shaped ResNet18 (w=8) on 5,000
training examples, PGD-10 adversarial examples at ε = 8/255 generated once (step 2/255),
then `compute_spectrum` with the Lanczos solver for the top 20 eigenvalues (tol 1e-3), no
random-model normalisation. The model is freshly initialised and the images are synthetic
(the GPU machine cannot download CIFAR-10): the cost of a Hessian-vector product does not
depend on the weights' values or the pixels, only the number of products does, and that
number is printed. Prints the seconds for the attack, the solve, the products and the
seconds per product.

--dry-run: the CPU, ResNet18 w=1, 32 examples, top 2; it checks that the script runs.
"""

from __future__ import annotations

import argparse
import time

import torch

from advland.analysis.hessian.spectrum import compute_spectrum
from advland.analysis.hessian.spectrum_types import SpectrumConfig
from advland.attacks.spec import AttackConfig
from advland.fileio import atomic_write_json
from advland.models import build_model
from benchmarks.gpu_epoch import synthetic_cifar

EPS = 8 / 255


def run(*, subset: int, k: int, width: int, batch_size: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    data = synthetic_cifar(subset)
    model = build_model("resnet18", width=width, num_classes=10, in_channels=3).to(device)
    cfg = SpectrumConfig(
        k=k,
        subset_size=subset,
        batch_size=batch_size,
        num_random_models=0,
        attack=AttackConfig(eps=EPS, steps=10, step_size=EPS / 4),
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    res = compute_spectrum(model, data.x, data.y, cfg, progress=True)
    sync()
    seconds = time.perf_counter() - start
    products = res.eigen.num_hvps + res.eigen.residual_hvps
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": f"resnet18 w={width}",
        "subset": subset,
        "k": k,
        "batch_size": batch_size,
        "seconds": round(seconds, 2),
        "hvp_products": products,
        "solve_seconds": round(res.eigen.wall_time_s, 2),
        "seconds_per_product": round(res.eigen.wall_time_s / max(products, 1), 4),
        "converged": int(res.eigen.converged.sum()),
        "top_eigenvalues": [round(float(v), 4) for v in res.eigenvalues[: min(k, 5)]],
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="write the result as JSON here")
    p.add_argument("--subset", type=int, default=5000, help="examples (paper: 5,000)")
    p.add_argument("--k", type=int, default=20, help="eigenvalues (paper: top 20)")
    p.add_argument("--width", type=int, default=8, help="ResNet18 width factor (paper: 8)")
    p.add_argument("--batch-size", type=int, default=500, help="examples per HVP chunk")
    p.add_argument("--dry-run", action="store_true", help="tiny, on the CPU")
    a = p.parse_args(argv)
    if a.dry_run:
        a.subset, a.k, a.width, a.batch_size = 32, 2, 1, 32
        device = torch.device("cpu")
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    r = run(subset=a.subset, k=a.k, width=a.width, batch_size=a.batch_size, device=device)
    print(
        f"Lanczos top-{r['k']} of {r['model']} on {r['subset']} examples ({r['device']}): "
        f"{r['seconds']:.1f} s in all, solve {r['solve_seconds']:.1f} s, "
        f"{r['hvp_products']} Hessian-vector products ({r['seconds_per_product']} s each), "
        f"{r['converged']}/{r['k']} converged; top eigenvalues {r['top_eigenvalues']}"
    )
    if a.out:
        atomic_write_json(a.out, r)
    return r


if __name__ == "__main__":
    main()
