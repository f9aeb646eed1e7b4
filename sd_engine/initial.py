"""Stock initial values as parameters: fit a hidden initial state, or start from a warm state.

A stock's initial value is an equation of the model, evaluated once at the start; it is not a
constant that :meth:`~sd_engine.compile.CompiledModel.run` can override. Calibrating an
unobserved initial state (trust, capability) or starting every scenario of an ensemble from
its own warmed-up state needs exactly that. :func:`with_initial_parameters` rewrites the spec:
each named stock's initial equation becomes a reference to a new constant ``initial <Stock>``
(same dimensions and units), whose default is the value the original equation gives, so the
rewritten model runs exactly as before until the constant is overridden.

Internal stocks of SMOOTH/DELAY are not touched: they start from their own inputs, as in the
original model.

>>> import sd_engine as sd
>>> from sd_engine.initial import with_initial_parameters
>>> model = with_initial_parameters(sd.load("teacup"), ["Teacup Temperature"])
>>> float(model.run(params={"initial Teacup Temperature": 100})["Teacup Temperature"][0])
100.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from .compile import CompiledModel, compile_model
from .errors import SpecError
from .expr import Num, Ref, canonical
from .spec import ModelSpec, Variable

__all__ = ["with_initial_parameters", "initial_parameter_name"]


def initial_parameter_name(stock: str) -> str:
    """The display name of the constant that holds `stock`'s initial value."""
    return f"initial {stock}"


def with_initial_parameters(model: CompiledModel, stocks: Iterable[str]) -> CompiledModel:
    """A copy of `model` whose named stocks start from constants ``initial <Stock>``.

    Parameters
    ----------
    model : CompiledModel
        The model; it is not changed.
    stocks : iterable of str
        Stock names (display or canonical). Each gets a constant named
        :func:`initial_parameter_name` of it, with the stock's dimensions and units, whose
        default value is what the stock's own initial equation gives at the initial time.

    Raises
    ------
    SpecError
        A name is not a stock, or the model already has a variable of the new constant's name.
    """
    spec = model.spec
    targets: dict[str, Variable] = {}
    for name in stocks:
        var = model.resolve(name)
        if var.kind != "stock":
            raise SpecError(f"`{var.name}` is a {var.kind}, not a stock; only stocks have an initial value to set.")
        if var.update != "continuous":
            raise SpecError(f"`{var.name}` is not an integrated stock (its update rule is `{var.update}`); "
                            "its initial value cannot be made a parameter.")
        new = initial_parameter_name(var.name)
        if new in spec:
            raise SpecError(f"`{var.name}`: the model already has a variable `{spec[new].name}`; rename it to "
                            "make the stock's initial value a parameter.")
        targets[var.canonical] = var
    if not targets:
        return model
    # The defaults: what the original initial equations give (a run of zero length).
    start = model.run(final_time=spec.time.initial_time, saveper=spec.time.dt)
    variables: list[Variable] = []
    for var in spec.variables:
        stock = targets.get(var.canonical)
        if stock is None:
            variables.append(var)
            continue
        name = initial_parameter_name(stock.name)
        value = np.asarray(start[stock.name].isel(time=0).values, dtype=float)
        constant = Variable(
            name=name, kind="constant", dims=stock.dims, units=stock.units,
            equation=None if stock.dims else Num(float(value)),
            values=tuple(value.ravel().tolist()) if stock.dims else None,
            doc=f"Initial value of `{stock.name}` (by default what its equation `{stock.equation_text}` gives).",
        )
        variables.append(dataclasses.replace(stock, equation=Ref(canonical(name)), text=canonical(name)))
        variables.append(constant)
    return compile_model(dataclasses.replace(spec, variables=tuple(variables)))
