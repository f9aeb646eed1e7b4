"""The fixed-step explicit methods, as small solver objects with one ``step``.

A solver advances the stocks by one step from their value and the first stage ``k1``
(the net flows ``evaluate`` computed at the start of the step, with the values saved then);
``rhs(t, y)`` gives the net flows at other stages. :data:`SOLVERS` registers them by the
name ``run(method=...)`` takes; :data:`ADAPTIVE_METHODS` names scipy's embedded pairs, which
:mod:`sd_engine.integrate` drives with error control.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

__all__ = ["Rhs", "AbstractSolver", "Euler", "RK2", "RK4", "SOLVERS", "ADAPTIVE_METHODS", "METHODS"]

#: The net flows at time ``t`` for stocks ``y``, both with the run axis first.
Rhs = Callable[[float, np.ndarray], np.ndarray]


class AbstractSolver(ABC):
    """A fixed-step explicit method: ``y(t + h)`` from ``y(t)`` and the first stage ``k1``."""

    name: str
    order: int

    @abstractmethod
    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray: ...


class Euler(AbstractSolver):
    """Forward Euler, Vensim's default: ``y + h * f(t, y)``."""

    name, order = "euler", 1

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        # In place: the integrator owns `y`, and the saved values were copied out already.
        y += h * k1
        return y


class RK2(AbstractSolver):
    """Heun's second-order method (the explicit trapezoid rule)."""

    name, order = "rk2", 2

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        k2 = rhs(t + h, y + h * k1)
        return y + (h / 2) * (k1 + k2)


class RK4(AbstractSolver):
    """The classical fourth-order Runge-Kutta method."""

    name, order = "rk4", 4

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        k2 = rhs(t + h / 2, y + (h / 2) * k1)
        k3 = rhs(t + h / 2, y + (h / 2) * k2)
        k4 = rhs(t + h, y + h * k3)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


#: The fixed-step methods by the name ``run(method=...)`` takes.
SOLVERS: dict[str, type[AbstractSolver]] = {"euler": Euler, "rk2": RK2, "rk4": RK4}
#: Adaptive embedded Runge-Kutta pairs (scipy's implementations) with error control.
ADAPTIVE_METHODS = {"rk45": "RK45", "dop853": "DOP853"}
#: Every method ``run`` takes.
METHODS = tuple(SOLVERS) + tuple(ADAPTIVE_METHODS)
