"""Evaluation of a batch of loss-surface grid points on one data batch (for `surface`).

`PointEvaluator.run_grouped` attacks and evaluates P points θ + a1·v1 + a2·v2 as ONE
network with P× the channels (`advland.analysis.landscape.grouped`; the fastest path on a
CPU), `run_vmap` as one vmapped computation (any model torch.func can vmap), `run_loop`
one point at a time with `advland.attacks.pgd` on a model copy (any model). All three
take the same ascent steps from the same random starts; the module doc of
`advland.analysis.landscape.surface` says why they agree.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from advland.analysis.landscape.adversary import adversarial
from advland.analysis.landscape.grouped import GroupedNet, NotGroupable, from_grouped, to_grouped
from advland.analysis.landscape.surface_types import SurfaceConfig
from advland.analysis.params import Vec, trainable
from advland.attacks import get_loss
from advland.attacks.pgd import keep_worst
from advland.attacks.spec import AttackConfig


@dataclass(frozen=True)
class Points:
    """P grid points θ + a1·v1 (+ a2·v2) at `coords` [P, 2]; their attacks run at the
    `anchors` [U, 2] (block centres; the points themselves unless blocks are reused),
    point p at anchor `index[p]`."""

    theta: Vec
    dirs: list[Vec]
    coords: torch.Tensor
    anchors: torch.Tensor
    index: torch.Tensor


@dataclass(frozen=True)
class DataBatch:
    """One data batch, the attack at the budget being scanned, and its random-start seed."""

    x: torch.Tensor
    y: torch.Tensor
    attack: AttackConfig
    seed: int


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
    """Evaluates (loss sum, errors) of a batch of points on one data batch."""

    def __init__(self, model: nn.Module, cfg: SurfaceConfig) -> None:
        self.model, self.cfg = model, cfg
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        fixed = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
        self.fixed = {**fixed, **dict(model.named_buffers())}
        self.loss_fn = get_loss(cfg.attack_loss)
        self.work: nn.Module | None = None  # model copy for the loop path, made on first use
        self.grouped: GroupedNet | None = None  # made and checked on first use

    def run(self, mode: str, points: Points, batch: DataBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss sums, error counts) of the points, by the path named `mode`."""
        paths = {"grouped": self.run_grouped, "vmap": self.run_vmap, "loop": self.run_loop}
        return paths[mode](points, batch)

    def _logits(self, params: Vec, xa: torch.Tensor) -> torch.Tensor:
        return functional_call(
            self.model, {**dict(zip(self.names, params, strict=True)), **self.fixed}, (xa,)
        )

    def _vmap_pgd(self, stacked: Vec, x, y, attack: AttackConfig, starts) -> torch.Tensor:
        """`pgd` for P parameter sets at once: x_adv [P, B, ...]."""
        threat, alpha = attack.threat(), attack.step()

        def objective(params: Vec, xa: torch.Tensor) -> torch.Tensor:
            return self.loss_fn(self._logits(params, xa), y).sum()  # sum, as in pgd

        def step(params: Vec, xa: torch.Tensor) -> torch.Tensor:
            g = grad(objective, argnums=1)(params, xa)
            return threat.project(xa + alpha * threat.ascent(g), x)

        vstep = vmap(step)
        return self._worst_over_starts(
            starts,
            stacked[0].shape[0],
            attack.steps,
            lambda xa: vstep(stacked, xa),
            lambda xa: vmap(self._logits)(stacked, xa),
            y,
        )

    def _worst_over_starts(self, starts, n_points: int, steps: int, step, logits, y):
        """`steps` of `step` from each random start (shared by the P points); with
        restarts, per point and example the worst result, as `pgd` keeps it."""
        best = None
        for start in starts:
            xa = start.expand(n_points, *start.shape)
            for _ in range(steps):
                xa = step(xa)
            if len(starts) == 1:
                return xa
            z = logits(xa)
            loss = vmap(self.loss_fn, in_dims=(0, None))(z, y).float()
            cand = (xa, loss, z.argmax(-1) != y)
            best = cand if best is None else vmap(keep_worst)(best, cand)
        assert best is not None  # there is at least one start
        return best[0]

    def _run_batched(self, stack, attack_fn, logits, points: Points, batch: DataBatch):
        """The vmap and grouped paths' shared steps: stack(coords) → the points' parameters,
        attack_fn(params, x, y, attack, starts) → x_adv [P, B, ...], logits(params, x_adv)
        → [P, B, classes]. PGD runs at the anchors, the loss at the points."""
        x, y, attack = batch.x, batch.y, batch.attack
        params = stack(points.coords)
        if attack.eps == 0:
            xa = x.expand(points.coords.shape[0], *x.shape)
        else:
            starts = self._starts(attack, x, batch.seed)
            if self.cfg.reuse_attack_block == 1:  # anchors are the points themselves
                xa = attack_fn(params, x, y, attack, starts)
            else:
                xa = attack_fn(stack(points.anchors), x, y, attack, starts)[points.index]
        z = logits(params, xa)
        ce = vmap(F.cross_entropy, in_dims=(0, None))(z, y, reduction="sum")
        return ce.double(), (z.argmax(-1) != y).sum(1).double()

    @torch.no_grad()
    def run_vmap(self, points: Points, batch: DataBatch):
        stack = functools.partial(_stacked, points.theta, points.dirs)
        return self._run_batched(stack, self._vmap_pgd, vmap(self._logits), points, batch)

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

    def _grouped_pgd(self, net, params, x, y, attack: AttackConfig, starts):
        """`pgd` for P parameter sets as one grouped network: x_adv [P, B, ...] (a view of a
        [B, P·C, ...] tensor). The attack's own arithmetic is vmapped over the points, so
        per-example ℓ2 norms stay per point."""
        n_points, nhwc = next(iter(params.values())).shape[0], self.cfg.channels_last
        threat, alpha = attack.threat(), attack.step()
        ascent, project = vmap(threat.ascent), vmap(threat.project, in_dims=(0, None))

        def step(xa: torch.Tensor) -> torch.Tensor:
            xg = to_grouped(xa, nhwc).requires_grad_(True)
            with torch.enable_grad():
                z = net.logits(params, xg)
                loss = self.loss_fn(z.flatten(0, 1), y.repeat(n_points)).sum()  # sum, as in pgd
                (g,) = torch.autograd.grad(loss, xg)
            return project(xa + alpha * ascent(from_grouped(g, n_points)), x)

        def logits(xa: torch.Tensor) -> torch.Tensor:
            return net.logits(params, to_grouped(xa, nhwc))

        return self._worst_over_starts(starts, n_points, attack.steps, step, logits, y)

    @torch.no_grad()
    def run_grouped(self, points: Points, batch: DataBatch):
        net = self._grouped_net(points.theta, points.dirs, batch.x)

        def stack(c: torch.Tensor) -> dict[str, torch.Tensor]:
            return self._all_params(_stacked(points.theta, points.dirs, c))

        def logits(params: dict[str, torch.Tensor], xa: torch.Tensor) -> torch.Tensor:
            return net.logits(params, to_grouped(xa, self.cfg.channels_last))

        attack_fn = functools.partial(self._grouped_pgd, net)
        return self._run_batched(stack, attack_fn, logits, points, batch)

    def _starts(self, attack: AttackConfig, x: torch.Tensor, seed: int) -> list:
        """pgd's random starts, drawn in pgd's order: each point sees exactly pgd's starts."""
        gen = torch.Generator().manual_seed(seed)
        threat, alpha = attack.threat(), attack.step()
        radius = {"step": alpha, "eps": attack.eps, "none": None}[attack.random_start]
        return [
            x.clone() if radius is None else threat.random_init(x, radius, gen)
            for _ in range(attack.restarts)
        ]

    @torch.no_grad()
    def run_loop(self, points: Points, batch: DataBatch):
        x, y = batch.x, batch.y
        nhwc = self.cfg.channels_last and x.dim() == 4  # image batches only
        if self.work is None:
            work = copy.deepcopy(self.model).eval()
            # Module.to takes memory_format (documented; missing from its type stubs)
            self.work = work.to(memory_format=torch.channels_last) if nhwc else work  # type: ignore[call-overload]
        work = self.work
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        params = trainable(work)
        losses, errors, adv = [], [], {}
        for p in range(points.coords.shape[0]):
            u = int(points.index[p])
            if u not in adv:  # attack at the anchor (the point itself unless blocks reused)
                self._load(params, points, points.anchors[u : u + 1])
                gen = torch.Generator().manual_seed(batch.seed)
                adv[u] = adversarial(
                    work, x, y, batch.attack, loss=self.cfg.attack_loss, generator=gen
                )
            self._load(params, points, points.coords[p : p + 1])
            z = work(adv[u])
            losses.append(F.cross_entropy(z, y, reduction="sum").double())
            errors.append((z.argmax(1) != y).sum().double())
        return torch.stack(losses), torch.stack(errors)

    @staticmethod
    def _load(params: list, points: Points, coords: torch.Tensor) -> None:
        for q, v in zip(params, _stacked(points.theta, points.dirs, coords), strict=True):
            q.copy_(v[0])
