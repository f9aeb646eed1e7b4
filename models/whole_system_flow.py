"""Whole-system flow: demand, hospital flow, onward care, workforce, trust and capability for one system.

Purpose
    The reference model of the domain document (§3–§4) for a policy lab and an ICS analyst: a
    local health and social care economy of ``population`` people (1,000,000 by default, about
    one integrated care system; 55,980,000 for England), run in days from a calendar start date
    (1 April 2018 by default, FY2018/19 levels) over 15 years, with the national levers of the
    Health Foundation / AQuA *whole system flow* report (Fillingham, Jones & Pereira 2016) and the
    mechanisms of the system-dynamics literature (Wolstenholme, Lane, Brailsford & Lattimer,
    Wood et al., Repenning & Sterman, Homer, Luna-Reyes, Seddon, Bohmer). Outcomes cover the
    triple aim plus staff: health (excess deaths from long ED waits and unmet need), quality
    (4-hour performance, 12-hour waits, acute and non-acute delayed transfers, readmissions,
    trust), resources (NHS and local-authority spending per head, an NHS financial position that
    can go into deficit) and staff (vacancies, leavers, fatigue). Fitted to England's monthly
    type-1 attendances, 4-hour performance and acute delayed days; the model card
    (``docs/model_card.rst``) gives the sources, the fit and what the model does not reproduce.

Structure (time unit: day; Euler, dt = 1 d; 15 years; England values / 55.98 m per 1 m)
    Calendar: ``start year`` and ``day of year`` from ``build(start_date=...)`` (recorded in
    results as ``attrs["start_date"]``); seasonal tables of attendances and conversion (derived
    from England's data), staff sickness (NHS Digital), a winter lengthening of stays
    (December-March, amplitude fitted) and the Christmas dip in discharges and electives.
    History before April 2018 (falling beds per head, LA funding per head, the 2017 social care
    money and DToC targets) is exogenous; levers act from day 1 (``policy start``).
    Demand (``models.wsf_demand``): the library's ageing chain (``models.ageing_chain_demand``:
    well and in need, by band 0-64, 65-84, 85+, with mortality improvement and care crowding out
    prevention) drives ED attendances (age rates x trend x season x GP access x unmet need) and
    social care requests. Acute (``models.wsf_acute``): conversion, overnight admissions into
    staffed beds (core beds limited by nurses, capped escalation beds), admission throttled by
    free beds (smooth minimum; a boarding backlog only when beds run out), the bed queue and the
    4-hour distribution from an M/M/c approximation, electives with cancellations. Onward care
    (``models.wsf_care``): acute DToC by pathway, intermediate care (bedded delays are
    non-acute DToC), home care and care homes, each starting clients through a fuzzy minimum of
    queues and capacity; spot purchases. Workforce (``models.wsf_workforce``): nurse pipeline,
    hiring limited by funded posts, fatigue and seasonal sickness, agency cover, social care
    workers, GPs. System (``models.wsf_system``): trust, shared knowledge, collaboration,
    improvement capability (0-1) and a planning cycle that launches, judges and abandons
    redesign programmes; the source report's levers; NHS and LA money; outcomes.
    Every stock starts at its day-0 equilibrium (closed forms in each sector: see the model card
    and ``sd_engine.steady`` for the check by simulation), so every scenario starts from the
    same state.

Feedback loops (domain §4.5; ``LOOPS`` lists the variables on each, checked on the graph)
    L1 admission throttle (B), L2 elective buffer (B) and its tail (R), L3 outlier congestion
    (R), L4 premature discharge (R), L5 downstream blockage (R), L6 spot purchase (R), L7
    escalation beds (B) with its side effect on nurses (R), L8 burnout and sickness (R), L9
    recruitment (B), L10 work harder (B), L11 capability trap (R), L12 savings spiral (R), L13
    trust-collaboration (R), L14 blame (R), L15 breaches and pressure (R), L16 policy churn (R).

Parameters
    Every constant carries its unit, default and source in its ``doc`` (``model.spec["name"].doc``
    and the model card's table): "derived" values come from England's data by the stated
    method, "fitted" ones from the joint calibration (``FIT``), "assumed" ones are priors with
    lab ranges. The fitted parameters (``FIT``) are the defaults.

Policy levers (each two-sided, with its source in its ``doc``; see ``LEVERS``)
    Finance: ``nhs budget growth``, ``social care funding growth``, ``pooled budget share``,
    ``savings rate`` (from ``savings start`` to ``savings end``), ``deficit response``.
    Regulation: ``target pressure``, ``fine per delayed day``, ``system accountability``.
    Workforce: ``training increase``, ``retention gain``, ``international recruits``, ``NHS pay
    index``, ``social care pay index``, ``gp training increase``. Collaboration vehicles (New
    Care Models): ``care home support``, ``admission avoidance``, ``integrated discharge``.
    Improvement: ``improvement time``, ``tests of change``, ``solutions at pace``, ``leadership
    headspace``, ``redesign time`` judged after ``evaluation window`` and relaunched each
    ``planning cycle``; ``first reorganisation`` and ``reorganisation interval``. Capacity:
    ``bed change``, ``IC change``, ``care home change``; coping switches ``escalation on``,
    ``early discharge on``, ``spot purchase on``; ``population``.
"""

from __future__ import annotations

from sd_engine.builder import Model

from .wsf_acute import add_acute
from .wsf_care import add_care
from .wsf_demand import add_calendar, add_demand
from .wsf_system import add_system
from .wsf_workforce import add_workforce

__all__ = ["build", "LOOPS", "LEVERS", "FIT", "START_DATE", "FINAL_TIME"]

#: The default calendar date of the initial time: FY2018/19, the year the levels describe.
START_DATE = "2018-04-01"
#: Fifteen years of 365 days (the lab's final-year window is the last 365 days).
FINAL_TIME = 5475.0

#: The joint fit to England's data (see ``docs/model_card.rst`` and
#: ``models/calibrate_whole_system_flow.py``): estimate and 95% interval of each fitted constant.
#: The estimates are the constants' defaults; the intervals are the lab's uncertainty ranges.
FIT: dict[str, tuple[float, float, float]] = {}

#: The lever table: lever -> (the outcome it should move, +1 or -1 for its direction after the
#: stated years, the source of the mechanism). ``tests/models/test_wsf_levers.py`` checks each.
LEVERS: dict[str, tuple[str, int, str]] = {}

#: The 16 named loops of the domain document (section 4.5) as variables on each loop, in
#: causal order; `model.loops()` names the loops it finds after them.
LOOPS: dict[str, list[str]] = {}


def build(start_date: str = START_DATE, final_time: float = FINAL_TIME) -> Model:
    """The whole-system flow model from `start_date` (ISO date) for `final_time` days.

    Examples
    --------
    >>> m = build()
    >>> m.attrs["start_date"], m.time.final_time
    ('2018-04-01', 5475.0)
    """
    m = Model("whole system flow", time_units="day", final_time=final_time, dt=1, doc=__doc__ or "")
    m.attrs["start_date"] = start_date
    add_calendar(m, start_date)
    add_demand(m)
    add_acute(m)
    add_care(m)
    add_workforce(m)
    add_system(m)
    return m
