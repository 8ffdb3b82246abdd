"""Every reproducible item of the paper, by name, in the order `paper.ITEMS` gives."""

from __future__ import annotations

from advland.errors import lookup
from advland.experiments import (
    items_dynamics,
    items_hessian,
    items_landscape,
    items_schedulers,
    items_similarity,
    items_table1,
    items_theory,
    paper,
)
from advland.experiments.recipe import Recipe

_BY_NAME: dict[str, Recipe] = {
    r.name: r
    for r in (
        items_dynamics.FIG1,
        items_dynamics.FIG8,
        items_dynamics.FIG11,
        items_hessian.FIG2,
        items_hessian.FIG9,
        items_similarity.FIG3,
        items_similarity.FIG10,
        items_schedulers.FIG4,
        items_schedulers.FIG13,
        items_schedulers.FIG14,
        items_landscape.FIG12,
        items_landscape.FIG15,
        items_table1.TABLE1,
        items_theory.FIG5,
        items_theory.THEORY,
    )
}

RECIPES: dict[str, Recipe] = {name: _BY_NAME[name] for name in paper.ITEM_NAMES}


def get_recipe(name: str) -> Recipe:
    return lookup("item", name, RECIPES)
