"""Evaluation of a batch of loss-surface grid points on one data batch (for `surface`).

`PointEvaluator.run_grouped` attacks and evaluates P points θ + a1·v1 + a2·v2 as ONE
network with P× the channels (`advland.analysis.landscape.grouped`; the fastest path on a CPU),
`run_vmap` as one vmapped computation (any model torch.func can vmap), `run_loop` one point
at a time with `advland.attacks.pgd` on a model copy (any model). All three take the same
ascent steps from the same random starts; the module doc of `advland.analysis.landscape.surface` says
why they agree.
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from advland.analysis.landscape.grouped import GroupedNet, NotGroupable, from_grouped, to_grouped
from advland.analysis.params import Vec, trainable
from advland.attacks import Threat, get_loss, pgd
from advland.attacks.pgd import keep_worst

if TYPE_CHECKING:
    from advland.analysis.landscape.surface import SurfaceConfig


def _stacked(theta: Vec, dirs: list[Vec], coords: torch.Tensor) -> Vec:
    """θ + a1·v1 (+ a2·v2) for P points at once: coords [P, 2] → tensors [P, *shape]."""
    out = []
    for k, t in enumerate(theta):
        shape = (-1,) + (1,) * t.dim()
        p = t[None] + coords[:, 0].to(t).view(shape) * dirs[0][k][None]
        if len(dirs) > 1:
            p = p + coords[:, 1].to(t).view(shape) * dirs[1][k][None]
        out.append(p)
    return out


class PointEvaluator:
    """Evaluates (loss sum, errors) of a batch of points on one data batch, vmap or loop."""

    def __init__(self, model: nn.Module, cfg: SurfaceConfig) -> None:
        self.model, self.cfg = model, cfg
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        fixed = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
        self.fixed = {**fixed, **dict(model.named_buffers())}
        self.loss_fn = get_loss(cfg.attack_loss)
        self.work = None  # model copy for the loop path, made on first use
        self.grouped: GroupedNet | None = None  # made and checked on first use

    def _logits(self, params: Vec, xa: torch.Tensor) -> torch.Tensor:
        return functional_call(
            self.model, {**dict(zip(self.names, params, strict=True)), **self.fixed}, (xa,)
        )

    def _vmap_pgd(self, stacked: Vec, x, y, threat: Threat, alpha: float, starts) -> torch.Tensor:
        """`pgd` for P parameter sets at once: x_adv [P, B, ...]."""

        def objective(params: Vec, xa: torch.Tensor) -> torch.Tensor:
            return self.loss_fn(self._logits(params, xa), y).sum()  # sum, as in pgd

        def step(params: Vec, xa: torch.Tensor) -> torch.Tensor:
            g = grad(objective, argnums=1)(params, xa)
            return threat.project(xa + alpha * threat.ascent(g), x)

        vstep = vmap(step)
        return self._worst_over_starts(
            starts, stacked[0].shape[0], lambda xa: vstep(stacked, xa),
            lambda xa: vmap(self._logits)(stacked, xa), y,
        )  # fmt: skip

    def _worst_over_starts(self, starts, n_points: int, step, logits, y) -> torch.Tensor:
        """cfg.steps of `step` from each random start (shared by the P points); with
        restarts, per point and example the worst result, as `pgd` keeps it."""
        best = None
        for start in starts:
            xa = start.expand(n_points, *start.shape)
            for _ in range(self.cfg.steps):
                xa = step(xa)
            if len(starts) == 1:
                return xa
            z = logits(xa)
            loss = vmap(self.loss_fn, in_dims=(0, None))(z, y).float()
            cand = (xa, loss, z.argmax(-1) != y)
            best = cand if best is None else vmap(keep_worst)(best, cand)
        return best[0]

    def _run_batched(self, stack, attack, logits, coords, anchors, idx, x, y, eps, seed):
        """The vmap and grouped paths' shared steps: stack(coords) → the points' parameters,
        attack(params, x, y, threat, alpha, starts) → x_adv [P, B, ...], logits(params,
        x_adv) → [P, B, classes]. PGD runs at the anchors, the loss at the points."""
        points = stack(coords)
        if eps == 0:
            xa = x.expand(coords.shape[0], *x.shape)
        else:
            threat, alpha = Threat(norm=self.cfg.norm, eps=eps), self.cfg.alpha(eps)
            starts = self._starts(threat, alpha, eps, x, seed)
            if self.cfg.reuse_attack_block == 1:  # anchors are the points themselves
                xa = attack(points, x, y, threat, alpha, starts)
            else:
                xa = attack(stack(anchors), x, y, threat, alpha, starts)[idx]
        z = logits(points, xa)
        ce = vmap(F.cross_entropy, in_dims=(0, None))(z, y, reduction="sum")
        return ce.double(), (z.argmax(-1) != y).sum(1).double()

    @torch.no_grad()
    def run_vmap(self, theta, dirs, coords, anchors, idx, *data):
        stack = functools.partial(_stacked, theta, dirs)
        logits = vmap(self._logits)
        return self._run_batched(stack, self._vmap_pgd, logits, coords, anchors, idx, *data)

    def _all_params(self, stacked: Vec) -> dict[str, torch.Tensor]:
        """Every parameter of the model stacked over the P points (frozen ones repeated)."""
        n = stacked[0].shape[0]
        out = dict(zip(self.names, stacked, strict=True))
        for name, p in self.model.named_parameters():
            out.setdefault(name, p.detach()[None].expand(n, *p.shape))
        return out

    def _grouped_net(self, theta: Vec, dirs: list[Vec], x: torch.Tensor) -> GroupedNet:
        """The grouped network, built once and checked against functional_call on two
        different points (a forward that mixes channels would otherwise go unnoticed)."""
        if self.grouped is None:
            net = GroupedNet(self.model)
            probe = torch.tensor([[0.5, -0.25], [-0.75, 1.0]], dtype=torch.float64)
            params = self._all_params(_stacked(theta, dirs, probe[:, : len(dirs)]))
            if not net.matches(self.model, params, x[:8]):
                raise NotGroupable(
                    f"{type(self.model).__name__}'s forward mixes channels outside its layers"
                )
            self.grouped = net
        return self.grouped

    def _grouped_pgd(self, net, params, x, y, threat: Threat, alpha: float, starts):
        """`pgd` for P parameter sets as one grouped network: x_adv [P, B, ...] (a view of a
        [B, P·C, ...] tensor). The attack's own arithmetic is vmapped over the points, so
        per-example ℓ2 norms stay per point."""
        n_points, nhwc = next(iter(params.values())).shape[0], self.cfg.channels_last
        ascent, project = vmap(threat.ascent), vmap(threat.project, in_dims=(0, None))

        def step(xa: torch.Tensor) -> torch.Tensor:
            xg = to_grouped(xa, nhwc).requires_grad_(True)
            with torch.enable_grad():
                z = net.logits(params, xg)
                loss = self.loss_fn(z.flatten(0, 1), y.repeat(n_points)).sum()  # sum, as in pgd
                (g,) = torch.autograd.grad(loss, xg)
            return project(xa + alpha * ascent(from_grouped(g, n_points)), x)

        return self._worst_over_starts(
            starts, n_points, step, lambda xa: net.logits(params, to_grouped(xa, nhwc)), y
        )

    def run(self, mode: str, *args) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss sums, error counts) of the points, by the path named `mode`."""
        return {"grouped": self.run_grouped, "vmap": self.run_vmap, "loop": self.run_loop}[mode](
            *args
        )

    @torch.no_grad()
    def run_grouped(self, theta, dirs, coords, anchors, idx, x, *data):
        net = self._grouped_net(theta, dirs, x)

        def stack(c: torch.Tensor) -> dict[str, torch.Tensor]:
            return self._all_params(_stacked(theta, dirs, c))

        def logits(params: dict[str, torch.Tensor], xa: torch.Tensor) -> torch.Tensor:
            return net.logits(params, to_grouped(xa, self.cfg.channels_last))

        attack = functools.partial(self._grouped_pgd, net)
        return self._run_batched(stack, attack, logits, coords, anchors, idx, x, *data)

    def _starts(self, threat: Threat, alpha: float, eps: float, x, seed: int) -> list:
        """pgd's random starts, drawn in pgd's order: each point sees exactly pgd's starts."""
        gen = torch.Generator().manual_seed(seed)
        radius = {"step": alpha, "eps": eps, "none": None}[self.cfg.random_start]
        return [
            x.clone() if radius is None else threat.random_init(x, radius, gen)
            for _ in range(self.cfg.restarts)
        ]

    @torch.no_grad()
    def run_loop(self, theta, dirs, coords, anchors, idx, x, y, eps, seed):
        nhwc = self.cfg.channels_last and x.dim() == 4  # image batches only
        if self.work is None:
            self.work = copy.deepcopy(self.model).eval()
            if nhwc:
                self.work = self.work.to(memory_format=torch.channels_last)
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        params = trainable(self.work)
        losses, errors, adv = [], [], {}
        for p in range(coords.shape[0]):
            u = int(idx[p])
            if u not in adv:  # attack at the anchor (the point itself unless blocks reused)
                for q, v in zip(params, _stacked(theta, dirs, anchors[u : u + 1]), strict=True):
                    q.copy_(v[0])
                adv[u] = x if eps == 0 else self._pgd(x, y, eps, seed)
            for q, v in zip(params, _stacked(theta, dirs, coords[p : p + 1]), strict=True):
                q.copy_(v[0])
            z = self.work(adv[u])
            losses.append(F.cross_entropy(z, y, reduction="sum").double())
            errors.append((z.argmax(1) != y).sum().double())
        return torch.stack(losses), torch.stack(errors)

    def _pgd(self, x, y, eps: float, seed: int) -> torch.Tensor:
        cfg = self.cfg
        return pgd(
            self.work, x, y, Threat(norm=cfg.norm, eps=eps), steps=cfg.steps,
            step_size=cfg.alpha(eps), random_start=cfg.random_start, restarts=cfg.restarts,
            loss=cfg.attack_loss, generator=torch.Generator().manual_seed(seed),
            model_mode="eval",
        )  # fmt: skip
