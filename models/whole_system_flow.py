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
    non-acute DToC), home care and care homes, each a queue for places whose wait comes from an
    M/M/c approximation at the current utilisation; spot purchases. Workforce (``models.wsf_workforce``): nurse pipeline,
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

from pathlib import Path
from typing import Any

from sd_engine.builder import Model
from sd_engine.lab.metrics import LabProfile, Metric

from .wsf_acute import add_acute
from .wsf_care import add_care
from .wsf_demand import add_calendar, add_demand
from .wsf_system import add_system
from .wsf_workforce import add_workforce

#: The scenario files shipped with this model (read through `sd_engine.scenario.shipped`).
SCENARIO_DIR = Path(__file__).with_name("scenarios")

__all__ = ["build", "LOOPS", "LEVERS", "REFERENCES", "FIT", "FIT_SCORES", "START_DATE", "FINAL_TIME", "SCENARIO_DIR",
           "LAB_PROFILE"]

#: The default calendar date of the initial time: FY2018/19, the year the levels describe.
START_DATE = "2018-04-01"
#: Fifteen years of 365 days (the lab's final-year window is the last 365 days).
FINAL_TIME = 5475.0

#: The joint fit to England's data (see ``docs/model_card.rst`` and
#: ``models/calibrate_whole_system_flow.py``): estimate and 95% interval of each fitted constant.
#: The estimates are the constants' defaults; the intervals are the lab's uncertainty ranges.
FIT: dict[str, tuple[float, float, float]] = {
    "attendance level": (0.889965, 0.881146, 0.899308),
    "attendance trend": (0.0068865, 0.0043123, 0.00957094),
    "median time non admitted": (1.98991, 1.90948, 2.07329),
    "winter LoS rise": (0.057389, 0.0346023, 0.090088),
    "placement scale": (0.454593, 0.334667, 0.626995),
    "base IC places": (565.753, 547.291, 586.66),
    "LA pre 2017 trend": (-0.050715, -0.0570396, -0.0439968),
}
#: The fit's scores at the estimates (``models.wsf_fit.scores``): R² and mean absolute percentage
#: error of each series in sample and on its held-out last two years (24 months each).
FIT_SCORES: dict[str, dict[str, float]] = {
    "attendances_type1": {"r2_in": 0.8698, "r2_out": 0.5692, "mape_in": 0.0152, "mape_out": 0.0194},
    "four_hour_type1": {"r2_in": 0.6246, "r2_out": 0.7668, "mape_in": 0.0136, "mape_out": 0.0180},
    "delayed_days_acute": {"r2_in": 0.9059, "r2_out": -3.0793, "mape_in": 0.0546, "mape_out": 0.1428},
}

_LAB_YEAR = 365.0
#: The lab's uncertainty: each fitted constant's 95% interval (``FIT``) is its range, so the lab's
#: uncertainty is the data's; the pre-2017 council funding trend is history and does not vary.
_LAB_FITTED = {name: (low, high) for name, (_, low, high) in FIT.items() if name != "LA pre 2017 trend"}
#: Parameters the model documents as assumed: ranges around their defaults (wider where the
#: domain gives a range), kept where the baseline stays physically sensible.
_LAB_ASSUMED = {
    "bed pool size": (30.0, 60.0),
    "boarding crowding": (0.05, 0.3),
    "ED load sensitivity": (0.05, 0.2),
    "conversion trend": (0.01, 0.02),
    "LoS trend": (-0.015, -0.005),
    "readmission fraction": (0.065, 0.095),
    "deconditioning": (0.025, 0.075),
    "placement time home care": (0.5, 2.0),
    "leave rate": (0.095, 0.12),
    "capability LoS sensitivity": (0.1, 0.3),
    "trust erode time": (60.0, 120.0),
    "base negative": (0.08, 0.12),
    "commissioning response": (0.3, 0.7),
    "nurse cost": (110.0, 140.0),
    "bed day cost": (200.0, 300.0),
}

#: What the policy lab measures and varies for this model (found through `sd_engine.library`).
LAB_PROFILE = LabProfile(
    model="whole_system_flow",
    metrics=(
        Metric("four_hour", "4-hour performance", "four hour performance", "window_mean", "%", "waits", "higher",
               scale=100, window=_LAB_YEAR, description="Share of type-1 ED attendances within 4 hours, final-year mean."),
        Metric("awaiting_bed", "Waiting for a bed", "Awaiting a bed", "window_mean", "people", "waits", "lower",
               window=_LAB_YEAR, description="Patients decided to admit and waiting for a bed (Little's law on the bed "
                                         "queue), final-year mean."),
        Metric("delayed_days", "Acute delayed days a month", "DToC days per month", "window_mean", "days/month",
               "delays", "lower", window=_LAB_YEAR,
               description="Acute delayed transfers of care (bed-days a month), final-year mean."),
        Metric("twelve_hour", "12-hour waits a year", "twelve hour waits", "window_mean", "people/year", "waits",
               "lower", scale=_LAB_YEAR, window=_LAB_YEAR, description="Admitted patients more than 12 hours in ED, final year."),
        Metric("nonacute_delays", "Non-acute delayed patients", "Non acute DToC", "window_mean", "people", "delays",
               "lower", window=_LAB_YEAR, description="Delayed patients in community beds, final-year mean."),
        Metric("unmet_need", "Unmet care need", "Unmet need", "window_mean", "people", "unmet need", "lower",
               window=_LAB_YEAR, description="People in the community with an unmet care need, final-year mean."),
        Metric("excess_deaths", "Excess deaths a year", "excess deaths", "window_mean", "deaths/year", "health",
               "lower", scale=_LAB_YEAR, window=_LAB_YEAR,
               description="Deaths attributable to long ED waits (Jones et al. 2022) and unmet need, final year."),
        Metric("readmissions", "Readmissions a year", "readmissions", "window_mean", "people/year", "quality",
               "lower", scale=_LAB_YEAR, window=_LAB_YEAR, description="Emergency readmissions within 30 days, final year."),
        Metric("trust", "Inter-agency trust", "Trust", "window_mean", "0-1", "quality", "higher", window=_LAB_YEAR,
               description="Trust between the NHS and the local authority, final-year mean."),
        Metric("cost_per_head", "Health and care cost per head", "cost per capita", "window_mean", "£/person/year",
               "cost", "lower", window=_LAB_YEAR,
               description="NHS acute and LA social care spending per person per year, final-year mean."),
        Metric("financial_position", "NHS financial position", "Financial position", "final", "£m", "cost",
               "higher", scale=1e-6, description="Cumulative NHS income minus spending at the end."),
        Metric("vacancy", "Nurse vacancy rate", "nurse vacancy rate", "window_mean", "%", "staff", "lower",
               scale=100, window=_LAB_YEAR, description="Unfilled funded nursing posts, final-year mean."),
        Metric("leaver_rate", "Nurse leaver rate", "nurse leaver rate", "window_mean", "%/year", "staff", "lower",
               scale=100, window=_LAB_YEAR, description="Nurses leaving per nurse per year, final-year mean."),
        Metric("occupancy", "Bed occupancy", "occupancy", "window_mean", "%", "flow", "lower", scale=100,
               window=_LAB_YEAR, description="General and acute bed occupancy, final-year mean."),
    ),
    uncertainty={**_LAB_FITTED, **_LAB_ASSUMED},
    fan_variables=("four hour performance", "Acute DToC", "Unmet need", "excess deaths", "cost per capita",
                   "nurse vacancy rate", "Trust", "occupancy"),
    # A fifth of a year: 5,475 days is exactly 75 intervals, so the final-year window holds
    # five evenly spread points, and a 10,000-run ensemble stays within memory.
    saveper=73.0,
    year=_LAB_YEAR,
)


#: The lever table: each lever's setting (``params``), the run it is compared with (``reference``:
#: the baseline, or ``stressed`` for levers that act only where social care binds), its expected
#: effects as (outcome, years after the start, +1 if the lever raises it or -1) -- the benefit
#: and, for two-sided levers, the cost or risk -- and the source of the mechanism.
#: ``tests/models/test_wsf_levers.py`` checks every direction; the model card tabulates them.
LEVERS: dict[str, dict[str, Any]] = {
    "NHS funding growth": dict(
        params={"nhs budget growth": 0.035}, effects=[("four hour performance", 10, +1), ("occupancy", 10, -1),
                                                       ("cost per capita", 10, +1)],
        source="Domain §4.6 (0-4% a year); funding buys beds, nurse posts and ED capacity net of real unit-cost "
               "growth."),
    "Social care funding growth": dict(
        params={"social care funding growth": 0.03}, effects=[("Acute DToC", 10, -1), ("Unmet need", 10, -1),
                                                               ("cost per capita", 10, +1)],
        source="Domain §4.6 (-2% to +5% a year); the 2017 £2 bn (Spring Budget) cut delays (DToC statistics)."),
    "Pooled budget": dict(
        params={"pooled budget share": 0.08}, effects=[("collaboration", 5, +1), ("Acute DToC", 5, -1),
                                                        ("Financial position", 5, -1)],
        source="Better Care Fund (domain §4.6, 0-10%): money and aligned incentives for community care; less "
               "for the hospital."),
    "Delay fines": dict(
        params={"fine per delayed day": 100.0}, effects=[("Acute DToC", 0.25, -1), ("Trust", 3, -1),
                                                         ("collaboration", 3, -1)],
        source="Community Care (Delayed Discharges) Act 2003: the intended incentive (explanatory notes para 9) "
               "and the feared damage to partnership (Community Care, July 2003)."),
    "Target pressure": dict(
        params={"target pressure": 1.5}, effects=[("four hour performance", 1, +1),
                                                  ("Improvement capability", 10, -1)],
        source="The 4-hour target era (98% reached 2005-2010, england_ae_quarterly_2004_2015.csv) against "
               "pressure that crowds out improvement (Repenning & Sterman 2001)."),
    "Place-based regulation": dict(
        params={"system accountability": 0.8}, effects=[("Shared knowledge", 0.1, -1), ("collaboration", 10, +1)],
        source="CQC local system reviews (2017-18) and the report's place-based regulation: aligned incentives "
               "and less blame, after the disruption of a new regime."),
    "Savings programme": dict(
        params={"savings rate": 0.03}, effects=[("Financial position", 2, +1), ("four hour performance", 5, -1)],
        source="Seddon 2008 ('focus on costs and costs rise'); NHS efficiency requirement ≈4%/yr 2011-15."),
    "Deficit response": dict(
        params={"deficit response": 0.5}, effects=[("core beds", 10, -1), ("occupancy", 10, +1)],
        source="L12 savings spiral (domain §4.5; Seddon 2008)."),
    "Improvement time": dict(
        params={"improvement time": 0.10}, effects=[("Improvement capability", 10, +1),
                                                    ("ward nurses available", 0.5, -1)],
        source="Repenning & Sterman 2001: improvement needs time taken from care first (worse before better)."),
    "Tests of change": dict(
        params={"tests of change": 3.0}, effects=[("Improvement capability", 5, +1)],
        source="Spear (cited in the report): repeated small experiments build capability."),
    "Solutions at pace": dict(
        params={"solutions at pace": 1.0}, effects=[("occupancy", 0.5, -1), ("Improvement capability", 3, -1)],
        source="Seddon 2008 (cited in the report): copied productivity solutions deliver quickly, fade, and "
               "crowd out capability building."),
    "Leadership headspace": dict(
        params={"leadership headspace": 1.0}, effects=[("Improvement capability", 5, +1),
                                                       ("cost per capita", 1, +1)],
        source="The report's 'time and headspace' for local leaders; Bohmer."),
    "Long evaluation window": dict(
        params={"redesign time": 0.1, "evaluation window": 3650.0}, reference="short window",
        effects=[("Improvement capability", 10, +1), ("four hour performance", 12, +1)],
        source="Bohmer (cited in the report): rebuilding a system's operating system takes about a decade; a "
               "2-year judgement abandons it (L16)."),
    "Nurse training": dict(
        params={"training increase": 90.0}, effects=[("Nurses", 10, +1)],
        source="Domain §4.6 (+25% training places); Health Foundation workforce reports."),
    "Nurse retention": dict(
        params={"retention gain": 0.2}, effects=[("Nurses", 5, +1)], source="Health Foundation, Falling short (2019)."),
    "International recruitment": dict(
        params={"international recruits": 150.0}, effects=[("Nurses", 5, +1)], source="Domain §4.6 (0-200 a year)."),
    "NHS pay": dict(
        params={"NHS pay index": 1.1}, effects=[("nurse leaver rate", 5, -1), ("cost per capita", 5, +1)],
        source="Domain §4.4 pay-leaver table (Health Foundation); pay is the largest NHS cost."),
    "Social care pay": dict(
        params={"social care pay index": 1.15}, effects=[("Social care workers", 5, +1),
                                                         ("prevention index", 5, -1)],
        source="Skills for Care (turnover 29-31%, pay-sensitive); the LA pays it from what prevention would get."),
    "GP training": dict(
        params={"gp training increase": 10.0}, effects=[("GPs", 10, +1), ("ED attendances", 10, -1)],
        source="Brailsford et al. 2004: primary care access drives emergency demand."),
    "Care home support": dict(
        params={"care home support": 1.0}, effects=[("ED attendances", 5, -1), ("cost per capita", 1, +1)],
        source="Enhanced Health in Care Homes vanguards (Health Foundation IAU 2019: 27% fewer avoidable "
               "admissions in Wakefield)."),
    "Admission avoidance": dict(
        params={"admission avoidance": 1.0}, effects=[("decisions to admit", 5, -1)],
        source="New Care Models (MCP/PACS vanguards, NHS England 2017; NIHR realist synthesis 2018)."),
    "Integrated discharge": dict(
        params={"integrated discharge": 1.0}, effects=[("Acute DToC", 5, -1)],
        source="Discharge to assess and trusted assessors (NHS England 2016 quick guides; Health Foundation Flow "
               "Cost Quality)."),
    "G&A beds": dict(
        params={"bed change": 0.1}, effects=[("occupancy", 5, -1), ("four hour performance", 5, +1),
                                             ("cost per capita", 5, +1)],
        source="Domain §4.6 (±20%); Lane, Monefeldt & Rosenhead 2000."),
    "Intermediate care places": dict(
        params={"IC change": 0.2}, effects=[("Acute DToC", 5, -1)],
        source="Wolstenholme 1999: intermediate care is the high-leverage flow variable; Onen-Dumlu et al. 2022."),
    "Care home places": dict(
        params={"care home change": 0.2}, effects=[("Acute DToC", 5, -1), ("Unmet need", 5, -1)],
        source="Domain §4.6 (±20%); Wood et al. 2022."),
    "Reorganisations": dict(
        params={"first reorganisation": 730.0, "reorganisation interval": 1825.0},
        effects=[("Shared knowledge", 5, -1)], source="Domain §4.6 (every 5 years); leadership churn in the report."),
    "Escalation off": dict(
        params={"escalation on": 0.0}, effects=[("occupancy", 5, +1)], source="Wolstenholme et al. 2007 (coping)."),
    "Early discharge off": dict(
        params={"early discharge on": 0.0}, effects=[("readmissions", 5, -1)],
        source="Wolstenholme et al. 2007; Seddon 2008 (failure demand)."),
    "Spot purchase off": dict(
        params={"spot purchase on": 0.0}, reference="stressed", effects=[("Acute DToC awaiting home care", 5, +1)],
        source="Wolstenholme & McKelvie 2019 (spot purchase as a fix that fails)."),
    "Work hour limit": dict(
        params={"work hour limit": 0.85}, reference="understaffed", effects=[("Nurse fatigue", 5, -1),
                                                                            ("occupancy", 5, +1)],
        source="Homer 1985 (the optimal work limit): less burnout, less throughput."),
    "Prevention": dict(
        params={"onset cut": 0.2}, effects=[("people in need", 10, -1)],
        source="Milstein et al. 2007; Homer & Hirsch 2006 (models.ageing_chain_demand)."),
}
#: Runs the lever table compares with, besides the baseline.
REFERENCES: dict[str, dict[str, float]] = {
    "stressed": {"social care funding growth": -0.04},
    "short window": {"redesign time": 0.1, "evaluation window": 730.0},
    "understaffed": {"NHS pay index": 0.85},
}

#: The 16 named loops of the domain document (section 4.5) as variables on each loop, in
#: causal order; `model.loops()` names the loops it finds after them.
LOOPS: dict[str, list[str]] = {
    "L1 admission throttle": ["occupied_beds", "free_beds", "admission_capacity", "admissions", "emergency_inpatients"],
    "L2 elective buffer": ["occupancy", "elective_admissions", "elective_inpatients", "occupied_beds"],
    "L2 tail": ["elective_waiting_list", "urgent_conversions", "bed_requests", "admissions", "emergency_inpatients",
                "occupied_beds", "occupancy", "elective_admissions"],
    "L3 outlier congestion": ["occupancy", "outlier_effect", "los_multiplier", "completions", "emergency_inpatients",
                              "occupied_beds"],
    "L4 premature discharge": ["occupancy", "readmission_multiplier", "excess_readmissions", "bed_requests",
                               "admissions", "emergency_inpatients", "occupied_beds"],
    "L5 downstream blockage": ["acute_dtoc", "mean_delay", "care_need_shift", "share_care_home_now",
                               "fit_for_care_home", "acute_dtoc_awaiting_care_home"],
    "L6 spot purchase": ["acute_dtoc_awaiting_home_care", "spot_purchases_hc", "la_unplanned_spending",
                         "la_funding_index", "social_care_establishment", "social_care_workers", "home_care_capacity",
                         "utilisation_hc", "beta_hc", "probability_of_waiting_hc", "wait_for_place_hc",
                         "hospital_to_home_care"],
    "L7 escalation beds": ["occupancy", "escalation_opening", "escalation_beds", "available_beds"],
    "L7 side effect": ["escalation_beds", "agency_nurses", "nhs_spending", "pressure_gap", "perceived_pressure",
                       "improvement_time_now", "capability_investment", "improvement_capability",
                       "capability_los_effect", "los_multiplier", "completions", "emergency_inpatients",
                       "occupied_beds", "occupancy", "escalation_opening"],
    "L8 burnout": ["nurses", "permanent_ward_nurses", "ward_nurses_available", "workload_ratio", "effort",
                   "fatigue_build_up", "nurse_fatigue", "nurse_leavers"],
    "L8 sickness": ["nurse_fatigue", "sickness", "permanent_ward_nurses", "ward_nurses_available", "workload_ratio",
                    "effort", "fatigue_build_up"],
    "L9 recruitment": ["nurses", "nurse_vacancy_rate", "hiring_factor", "nurse_hires"],
    "L10 work harder": ["occupied_beds", "nurse_demand", "workload_ratio", "effort", "staffing_adequacy",
                        "staffing_los_effect", "los_multiplier", "completions", "emergency_inpatients"],
    "L11 capability trap": ["perceived_pressure", "improvement_time_now", "capability_investment",
                            "improvement_capability", "capability_los_effect", "los_multiplier", "completions",
                            "emergency_inpatients", "occupied_beds", "occupancy", "pressure_gap", "pressure_change"],
    "L12 savings spiral": ["financial_position", "savings_rate_now", "savings_cuts", "savings_index", "capacity_index",
                           "core_beds", "staffed_beds", "available_beds", "occupancy", "escalation_opening",
                           "escalation_beds", "nhs_spending", "nhs_costs"],
    "L13 trust-collaboration": ["trust", "placement_factor", "wait_for_place_hc", "hospital_to_home_care",
                                "acute_dtoc_awaiting_home_care",
                                "acute_dtoc", "all_dtoc", "delay_share", "delay_perception", "perceived_delays", "joint_success",
                                "trust_building"],
    "L13 knowledge": ["collaboration", "knowledge_gain", "shared_knowledge"],
    "L14 blame": ["perceived_delays", "blame", "trust_erosion", "trust", "placement_factor", "wait_for_place_hc",
                  "hospital_to_home_care", "acute_dtoc_awaiting_home_care", "acute_dtoc", "all_dtoc", "delay_share", "delay_perception"],
    "L15 breaches and pressure": ["occupancy", "queue_occupancy", "probability_of_waiting", "admitted_within_4h",
                                  "four_hour_performance", "pressure_gap", "perceived_pressure",
                                  "improvement_time_now", "capability_investment", "improvement_capability",
                                  "capability_los_effect", "los_multiplier", "completions", "emergency_inpatients",
                                  "occupied_beds"],
    "L16 policy churn": ["improvement_capability", "programme_abandoned", "programme_stops", "programme_running",
                         "improvement_time_now", "capability_investment"],
}


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
