"""Interruptions tipping point: a team that tips from self-correcting to self-escalating.

Purpose
    Rudolph & Repenning (2002), *Disaster dynamics* (domain document §7.6, loop L15). A
    stock of pending interruptions is worked off at a rate that first rises with the load
    (a little stress helps) and then falls (too much stress overwhelms). Below the peak
    resolution rate there are two equilibria: a stable one on the rising branch and an
    unstable one, the tipping threshold, on the falling branch. A temporary surge that
    pushes the stock past the threshold is not undone when arrivals fall back: hysteresis.

Structure (time unit: day; Euler, dt = 0.0625 d, 60 days)
    One stock, ``Pending interruptions`` (task). Inflow ``arrivals`` = base arrival rate plus a
    surge of ``surge size`` between ``surge start`` and ``surge start + surge duration``.
    Outflow ``resolution`` = pending / normal resolution time x productivity(pending /
    normal pending), where productivity is the inverted-U table of the domain document
    §4.4, extended with a falling tail so that the collapse continues past five times the
    normal load.

Feedback loops
    L15 Overwhelm tipping: pending -> stress (load ratio) -> productivity -> resolution ->
    pending. Balancing below the optimum load, reinforcing beyond it.

Parameters (default, unit, source)::

    base arrival rate        22 task/day         assumed — calibrate (below the peak of 27.2)
    normal pending           10 task             assumed — calibrate
    normal resolution time   1 day               assumed — calibrate
    surge size               0 task/day          scenario input
    surge start              10 day              scenario input
    surge duration           5 day               scenario input
    initial pending          17.4 task           near the stable equilibrium for 22/day
    productivity table       (0, 0.6) (1, 1.0) (2, 1.2) (3, 0.9) (5, 0.4), then (10, 0.1)
                             (40, 0.02); domain §4.4, tail assumed

Policy levers
    ``base arrival rate`` (demand management), ``normal resolution time`` (staffing), and the
    surge inputs (a shock).

Analytic checks
    Equilibria solve arrivals = resolution(I). With 22 tasks/day: I = 18.73 (stable) and
    I = 47.46 (unstable threshold); the peak resolution is 27.2 tasks/day at I = 33.
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'L15 overwhelm tipping': ['pending_interruptions', 'load_ratio', 'resolution'],
}

def build() -> Model:
    m = Model("interruptions tipping point", time_units="day", final_time=60, dt=0.0625, doc=__doc__ or "")
    m.constant("base arrival rate", 22, units="task/day", doc="Interruptions arriving per day. Assumed — calibrate.")
    m.constant("normal pending", 10, units="task", doc="Pending interruptions at normal load. Assumed — calibrate.")
    m.constant("normal resolution time", 1, units="day", doc="Time to resolve a task at normal productivity. Assumed — calibrate.")
    m.constant("surge size", 0, units="task/day", doc="Extra arrivals during a surge (scenario input).")
    m.constant("surge start", 10, units="day", doc="Start of the surge (scenario input).")
    m.constant("surge duration", 5, units="day", doc="Length of the surge (scenario input).")
    m.constant("initial pending", 18.73, units="task", doc="Pending interruptions at the start (the stable equilibrium).")
    m.lookup("productivity", [(0, 0.6), (1, 1.0), (2, 1.2), (3, 0.9), (5, 0.4), (10, 0.1), (40, 0.02)],
             units="dimensionless",
             doc="Inverted-U productivity against the load ratio (domain §4.4; tail beyond 5 assumed).")
    m.stock("Pending interruptions", initial="initial_pending", inflows=["arrivals"], outflows=["resolution"],
            units="task", non_negative=True, doc="Interruptions waiting to be resolved.")
    m.flow("arrivals", "base_arrival_rate + step(surge_size, surge_start) - step(surge_size, surge_start + surge_duration)",
           units="task/day", doc="Arrivals: the base rate plus a temporary surge.")
    m.aux("load ratio", "pending_interruptions / normal_pending", units="dimensionless",
          doc="Pending interruptions relative to normal: the stress level.")
    m.flow("resolution", "pending_interruptions / normal_resolution_time * productivity(load_ratio)", units="task/day",
           doc="Interruptions resolved (loop L15).")
    return m
