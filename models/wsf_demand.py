"""Whole-system flow, demand sector: the calendar, the population (the library's ageing chain),
ED attendances and social care need.

Part of :mod:`models.whole_system_flow`; see its documentation for the whole model. Every
constant's ``doc`` gives its unit, value and source; "derived" values were computed from the
England data in the project's shared data folder by the method stated, and "fitted" values by
the joint calibration described in the model card (``docs/model_card.rst``).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from sd_engine.builder import Model

from .ageing_chain_demand import BANDS, add_chain

__all__ = ["add_calendar", "add_demand", "seasonal_points", "calendar_start", "MONTH_MIDPOINTS",
           "ATTENDANCE_SEASON", "CONVERSION_SEASON", "SICKNESS_SEASON", "WINTER_SHAPE"]

DAYS_PER_YEAR = 365.25

#: Day of the year (from 0 on 1 January) at the middle of each month, January first.
MONTH_MIDPOINTS = (15.0, 44.5, 74.0, 104.5, 135.0, 165.5, 196.0, 227.0, 257.5, 288.0, 318.5, 349.0)

#: Type-1 attendances per day by calendar month (January first), relative to the year.
#: Derived: ratio to a centred 12-month moving average, Aug 2010 - Feb 2020, of
#: ``england_ae_attendances_monthly.csv`` (type 1 / days in month), averaged by month.
ATTENDANCE_SEASON = (0.9532, 0.9856, 1.0219, 1.0037, 1.0272, 1.0277, 1.0353, 0.9653, 1.0021, 1.0021, 0.9970, 0.9773)
#: Type-1 conversion (admissions via A&E / attendances) by month, relative to the year.
#: Derived the same way from ``england_ae_trust_totals_monthly.csv``, Apr 2016 - Mar 2019.
CONVERSION_SEASON = (1.0453, 1.0283, 1.0023, 0.9965, 0.9749, 0.9695, 0.9561, 1.0088, 0.9927, 0.9824, 1.0077, 1.0356)
#: NHS staff sickness absence rate by month (fraction). NHS Digital, NHS Sickness Absence
#: Rates, England: a consistent 2009-2019 pattern of about 3.9% in summer and 4.7% in the
#: winter months (approximate reading of the published monthly series).
SICKNESS_SEASON = (0.047, 0.046, 0.044, 0.041, 0.040, 0.039, 0.039, 0.039, 0.040, 0.042, 0.044, 0.047)
#: Where in the year winter lengthens stays (0 none, 1 the peak): December to March, peaking in
#: January with the flu season (the domain's winter pressure; respiratory admissions, Brailsford et
#: al. 2004). Assumed shape; the amplitude is fitted to England's 4-hour performance.
WINTER_SHAPE = (1.0, 0.35, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.35, 0.9)


def seasonal_points(monthly: tuple[float, ...], *, normalise: bool = True) -> list[tuple[float, float]]:
    """Points of a periodic lookup over the day of the year whose monthly means are `monthly`.

    Straight lines between mid-month points average a month with a little of its neighbours
    (mean = (v[i-1] + 6 v[i] + v[i+1]) / 8), which would flatten the seasonal swing; the node
    values solve that circulant system so that each month's mean is the given value. The
    table wraps: December before 1 January and January after 31 December.

    Examples
    --------
    >>> pts = seasonal_points((1.0,) * 12)
    >>> len(pts), pts[0][0], round(pts[0][1], 9), pts[-1][0]
    (14, -16.25, 1.0, 380.25)
    """
    target = np.asarray(monthly, dtype=float)
    if normalise:
        target = target / target.mean()
    a = np.zeros((12, 12))
    for i in range(12):
        a[i, i], a[i, (i - 1) % 12], a[i, (i + 1) % 12] = 6 / 8, 1 / 8, 1 / 8
    nodes = np.linalg.solve(a, target)
    pts = [(MONTH_MIDPOINTS[i], float(nodes[i])) for i in range(12)]
    return [(MONTH_MIDPOINTS[11] - DAYS_PER_YEAR, float(nodes[11])), *pts,
            (MONTH_MIDPOINTS[0] + DAYS_PER_YEAR, float(nodes[0]))]


def calendar_start(start_date: str) -> tuple[float, float]:
    """(decimal year, day of the year from 0) of an ISO date, on the model's 365.25-day year.

    >>> calendar_start("2018-04-01")
    (2018.2464065708418, 90.0)
    """
    day = _dt.date.fromisoformat(start_date)
    doy = float((day - _dt.date(day.year, 1, 1)).days)
    return day.year + doy / DAYS_PER_YEAR, doy


def add_calendar(m: Model, start_date: str) -> None:
    """Scale, calendar, seasonal tables and the policy switch-on day."""
    c = m.constant
    start_year, start_doy = calendar_start(start_date)
    c("population", 1_000_000, units="person", doc="Population of the system (lever). England: 55,980,000 "
      "(ONS mid-2018). Levels are per 1 m and scale with it.")
    c("reference population", 1_000_000, units="person", doc="Population the per-1 m defaults refer to.")
    m.aux("scale", "population / reference_population", units="dimensionless", doc="Population relative to 1 m.")
    c("days per year", DAYS_PER_YEAR, units="day/year", doc="Calendar year in days (365.25: no drift over decades).")
    c("one year", 1, units="year", doc="A year.")
    m.aux("start year", repr(start_year), units="year",
          doc=f"Calendar date of the initial time as a decimal year ({start_date}); set by "
              "`build(start_date=...)`, and recorded in the results as `attrs['start_date']`.")
    m.aux("start day of year", repr(start_doy), units="day", doc=f"Day of the year of {start_date}, from 0 on 1 January.")
    c("reference year", 2018.75, units="year",
      doc="Middle of FY2018/19, the year the level parameters describe (trends are measured from it).")
    m.aux("calendar year", "start_year + time / days_per_year", units="year", doc="Decimal calendar year.")
    m.aux("years from reference", "calendar_year - reference_year", units="year",
          doc="Years after the middle of FY2018/19 (negative before it).")
    m.aux("years since start", "time / days_per_year", units="year", doc="Years since the initial time.")
    m.aux("day of year", "modulo(start_day_of_year + time + 400 * days_per_year * one_year, days_per_year "
          "* one_year)", units="day", doc="Day of the calendar year (0 = 1 January); kept positive for warm-ups "
                                          "that run before the initial time.")
    c("policy start", 1, units="day",
      doc="Day from which the policy levers act. Day 1: every scenario starts from the same day-0 "
          "equilibrium of the baseline (the initial values are computed with the levers off).")
    m.aux("policy on", "step(1, policy_start)", units="dimensionless", doc="1 once the levers act.")
    m.lookup("attendance season", seasonal_points(ATTENDANCE_SEASON), units="dimensionless",
             doc="Type-1 attendances per day by day of year, relative to the year (derived, see ATTENDANCE_SEASON).")
    m.lookup("conversion season", seasonal_points(CONVERSION_SEASON), units="dimensionless",
             doc="Type-1 conversion by day of year, relative to the year (derived, see CONVERSION_SEASON).")
    m.lookup("sickness season", seasonal_points(SICKNESS_SEASON, normalise=False), units="dimensionless",
             doc="NHS sickness absence rate by day of year (NHS Digital, approximate; see SICKNESS_SEASON).")
    m.lookup("winter shape", seasonal_points(WINTER_SHAPE, normalise=False), units="dimensionless",
             doc="Winter pressure by day of year, 0-1, peaking in January (see WINTER_SHAPE).")
    # Christmas: hospitals and councils push discharges before the holiday (England's delayed days
    # are 7% below trend in December, derived from england_delayed_transfers_monthly.csv), then
    # discharges and planned electives fall over the holiday week. Assumed shape.
    m.lookup("christmas discharges", [(334, 1.0), (343, 1.2), (357, 1.2), (359, 0.7), (366, 0.7), (368, 1.0)],
             units="dimensionless", doc="Discharge and placement capacity around Christmas, relative to normal. "
                                         "Assumed: a pre-Christmas push (120% from 9 Dec) and a holiday dip to 70% "
                                         "(25 Dec - 1 Jan).")
    m.lookup("christmas electives", [(356, 1.0), (358, 0.5), (365, 0.5), (366, 1.0)], units="dimensionless",
             doc="Planned elective admissions around Christmas, relative to normal. Assumed: half over 24-31 December.")
    m.aux("christmas day of year", "day_of_year + if_then_else(day_of_year < 15, days_per_year * one_year, 0)",
          units="day", doc="Day of year running past 365 in early January, so the Christmas tables span New Year.")


def add_demand(m: Model) -> None:
    """Population (ageing chain), GP access, ED attendances and social care requests."""
    c = m.constant
    # -- population: the ageing chain of models.ageing_chain_demand, in days -------------------------
    c("band under 65 years", 65, units="year", doc="Residence time in the 0–64 band (domain §4.2).")
    c("band 65 to 84 years", 20, units="year", doc="Residence time in the 65–84 band (domain §4.2).")
    c("mortality under 65", 0.0015, units="1/year", doc="Deaths per well person per year, 0–64. Assumed — calibrate "
      "(order of ONS band rates).")
    c("mortality 65 to 84", 0.025, units="1/year", doc="Deaths per well person per year, 65–84. Assumed — calibrate.")
    c("mortality 85 plus", 0.25, units="1/year", doc="Deaths per well person per year, 85+. Assumed — calibrate.")
    c("mortality improvement", 0.01, units="1/year", doc="Yearly fall in mortality (longer lives), measured from "
      "FY2018/19. Assumed — calibrate; with it the 85+ band keeps growing (ONS: +101% aged 85+ 2010-2030).")
    c("need mortality multiplier", 1.5, units="dimensionless", doc="Higher mortality of people in need. Assumed.")
    c("onset under 65", 0.000139, units="1/year", doc="Care need onset per well person per year. Assumed — calibrate.")
    c("onset 65 to 84", 0.0084, units="1/year", doc="Care need onset per well person per year. Assumed — calibrate.")
    c("onset 85 plus", 0.16, units="1/year", doc="Care need onset per well person per year. Assumed — calibrate.")
    c("onset cut", 0, units="dimensionless", doc="Fractional cut in onset from prevention programmes (lever, 0–0.3; "
      "Milstein et al. 2007 tested 29%).")
    c("births and net migration", 17000, units="person/year",
      doc="Entrants to the 0–64 band per 1 m in FY2018/19. Derived: band outflows (12,540 ageing + 1,220 deaths) "
          "plus 0.4%/yr growth of the band (ONS: England's population grew ≈0.6%/yr in 2012-2019, less among "
          "under-65s).")
    c("births growth", 0.004, units="1/year", doc="Growth of births and net migration. Assumed (ONS trend).")
    for band, well, need in (("under 65", 815_000, 5_000), ("65 to 84", 144_000, 12_000), ("85 plus", 16_000, 8_000)):
        key = band.replace(" ", "_")
        c(f"reference well {band}", well, units="person",
          doc=f"People aged {band} without a care need per 1 m, FY2018/19 (domain D1-D3 less those in need; "
              "ONS 2018: 18% aged 65+, ≈2.4% 85+).")
        c(f"reference need {band}", need, units="person",
          doc=f"People aged {band} with a care need per 1 m, FY2018/19. Assumed — calibrate.")
        # The chain's net growth rate of each stock at the reference year (its own flows, closed
        # form): the initial value at another start date is the reference value moved along it,
        # so a run from 2012 passes close to the 2018/19 levels (a first-order backcast).
        for kind in ("well", "need"):
            m.aux(f"initial {kind} {band}", f"reference_{kind}_{key} * scale * exp(chain_growth_{kind}_{key} "
                  f"* (start_year - reference_year))", units="person",
                  doc=f"Initial {kind} {band}: the FY2018/19 level moved along the chain's own growth rate.")
    m.aux("chain growth well under 65", "(births_and_net_migration - reference_well_under_65 * (onset_under_65 "
          "+ mortality_under_65 + 1 / band_under_65_years)) / reference_well_under_65", units="1/year",
          doc="Net growth rate of the well 0-64 at the reference year.")
    m.aux("chain growth need under 65", "(reference_well_under_65 * onset_under_65 - reference_need_under_65 "
          "* (mortality_under_65 * need_mortality_multiplier + 1 / band_under_65_years)) / reference_need_under_65",
          units="1/year", doc="Net growth rate of the 0-64 in need at the reference year.")
    m.aux("chain growth well 65 to 84", "(reference_well_under_65 / band_under_65_years - reference_well_65_to_84 "
          "* (onset_65_to_84 + mortality_65_to_84 + 1 / band_65_to_84_years)) / reference_well_65_to_84",
          units="1/year", doc="Net growth rate of the well 65-84 at the reference year.")
    m.aux("chain growth need 65 to 84", "(reference_need_under_65 / band_under_65_years + reference_well_65_to_84 "
          "* onset_65_to_84 - reference_need_65_to_84 * (mortality_65_to_84 * need_mortality_multiplier "
          "+ 1 / band_65_to_84_years)) / reference_need_65_to_84", units="1/year",
          doc="Net growth rate of the 65-84 in need at the reference year.")
    m.aux("chain growth well 85 plus", "(reference_well_65_to_84 / band_65_to_84_years - reference_well_85_plus "
          "* (onset_85_plus + mortality_85_plus)) / reference_well_85_plus", units="1/year",
          doc="Net growth rate of the well 85+ at the reference year.")
    m.aux("chain growth need 85 plus", "(reference_need_65_to_84 / band_65_to_84_years + reference_well_85_plus "
          "* onset_85_plus - reference_need_85_plus * mortality_85_plus * need_mortality_multiplier) "
          "/ reference_need_85_plus", units="1/year", doc="Net growth rate of the 85+ in need at the reference year.")
    m.lookup("f prevention", [(0, 1.3), (1, 1.0), (2, 0.85)], units="dimensionless",
             doc="Onset multiplier against LA prevention spending per person relative to the start "
                 "(care crowds out prevention; models.ageing_chain_demand). Assumed.")
    add_chain(m, flow_units="person/day", per_time=" / days_per_year", years="years_from_reference",
              prevention_index="prevention_index")
    m.flow("births", "births_and_net_migration * scale * exp(births_growth * years_from_reference) / days_per_year",
           units="person/day", doc="Births and net migration into the 0-64 band.")
    for band in BANDS:
        key = band.replace(" ", "_")
        m.aux(f"population {band}", f"well_{key} + in_need_{key}", units="person", doc=f"Everyone aged {band}.")
    m.aux("total population", "population_under_65 + population_65_to_84 + population_85_plus", units="person",
          doc="Everyone.")
    m.aux("people in need", "in_need_under_65 + in_need_65_to_84 + in_need_85_plus", units="person",
          doc="Prevalence of care need (the chain's 'in need').")

    # -- GP access (Brailsford et al. 2004: primary care access drives emergency demand) -----------
    c("gp need weight 65 to 84", 2.5, units="dimensionless", doc="GP workload of a person 65-84 relative to under 65. "
      "Assumed (consultation rates rise steeply with age).")
    c("gp need weight 85 plus", 4, units="dimensionless", doc="GP workload of a person 85+ relative to under 65. Assumed.")
    m.aux("gp weighted population", "population_under_65 + gp_need_weight_65_to_84 * population_65_to_84 "
          "+ gp_need_weight_85_plus * population_85_plus", units="person", doc="Need-weighted population for GP care.")
    c("gp elasticity", 0.3, units="dimensionless", doc="Rise in ED demand per unit fall in GP FTE per weighted head "
      "(Brailsford et al. 2004: GP access drives emergency demand). Assumed — calibrate; domain 0.5 reduced "
      "because the acuity trend is fitted with it.")
    m.aux("gp access", "gps / gp_weighted_population / initial(gps / gp_weighted_population)", units="dimensionless",
          doc="GP FTE per need-weighted head relative to the start.")
    m.aux("gp access effect", "max(0.7, 1 + gp_elasticity * (1 - gp_access))", units="dimensionless",
          doc="ED demand multiplier from GP access (two-sided, bounded below).")

    # -- ED attendances (type 1) --------------------------------------------------------------------
    c("a1", 0.235, units="1/year", doc="Relative ED attendance rate under 65 (domain §4.2, age gradient assumed).")
    c("a2", 0.40, units="1/year", doc="Relative ED attendance rate 65-84 (domain §4.2, assumed).")
    c("a3", 1.00, units="1/year", doc="Relative ED attendance rate 85+ (domain §4.2, assumed).")
    c("attendance level", 0.889965, units="dimensionless",
      doc="Multiplier on a1-a3 giving England's FY2018/19 type-1 rate (767 a day per 1 m). Fitted to England data, "
          "see the model card.")
    c("attendance trend", 0.0068865, units="1/year",
      doc="Growth of attendances per head beyond ageing and GP access (acuity, propensity, access). Fitted to "
          "England's monthly type-1 attendances 2012-2018, see the model card.")
    c("care home attendance rate", 0.98, units="1/year",
      doc="A&E attendances per care home resident per year (Health Foundation Improvement Analytics Unit 2019, "
          "England 2016/17). Used for the care-home support lever.")
    c("k unmet", 0.05, units="dimensionless", doc="ED demand rise per unit relative unmet need. Assumed — calibrate.")
    c("re attendance fraction", 0.086, units="dimensionless", doc="Re-attend within 7 days (NHS Digital 2017/18).")
    m.aux("value demand", "(a1 * population_under_65 + a2 * population_65_to_84 + a3 * population_85_plus) "
          "* attendance_level * exp(attendance_trend * years_from_reference) / days_per_year "
          "* attendance_season(day_of_year) * gp_access_effect * (1 + k_unmet * (need_awaiting_assessment "
          "/ initial(need_awaiting_assessment) - 1)) "
          "- care_home_support_saving", units="person/day",
          doc="Type-1 attendances from need (domain §4.2): age-specific rates x trend x season x GP access x "
              "unmet need, less those avoided by care-home support.")
    m.aux("ED attendances", "(value_demand + crises) / (1 - re_attendance_fraction * (1 - conversion_now))",
          units="person/day", doc="Type-1 ED attendances per day: value demand, crises from unmet need and "
          "failure demand (re-attendances within 7 days, solved in closed form because their 7-day delay is "
          "far below the model's horizon).")
    m.aux("re attendances", "ed_attendances * re_attendance_fraction * (1 - conversion_now)", units="person/day",
          doc="Failure demand: re-attendances of patients sent home.")

    # -- social care need ----------------------------------------------------------------------------
    c("request rate", 1.32, units="1/year", doc="Requests for adult social care per person in need per year. Derived: "
      "1.84 m requests in England 2017/18 (King's Fund) / 56 = 33,000 per 1 m, over 25,000 people in need.")
    c("assessment time", 60, units="day", doc="Time to assess a request. Assumed — calibrate.")
    c("crisis time", 180, units="day", doc="Mean time before unassessed need becomes a crisis (domain τ_crisis).")
    c("share to IC", 0.113, units="dimensionless", doc="Share of assessed requests met by step-up intermediate care / "
      "reablement. Assumed — calibrate (with the other shares, gives IC ≈500, home care ≈10,000 and care homes "
      "≈7,300 clients per 1 m in FY2018/19).")
    c("share to home care", 0.037, units="dimensionless", doc="Share of assessed requests needing long-term home care. "
      "Assumed — calibrate.")
    c("share to care home", 0.048, units="dimensionless", doc="Share of assessed requests needing a care home place. "
      "Assumed — calibrate.")
    m.stock("Need awaiting assessment", initial="requests / (1 / assessment_time + 1 / crisis_time)",
            inflows=["requests"], outflows=["assessed to IC", "assessed to home care", "assessed to care home",
                                            "needs met otherwise", "crises"],
            units="person", non_negative=True,
            doc="People with a care need waiting to be assessed (domain D4, part). Starts at its equilibrium.")
    m.flow("requests", "request_rate * people_in_need / days_per_year", units="person/day",
           doc="Requests for social care support.")
    m.flow("assessed to IC", "need_awaiting_assessment * share_to_ic / assessment_time", units="person/day",
           doc="Assessed as needing intermediate care (step-up).")
    m.flow("assessed to home care", "need_awaiting_assessment * share_to_home_care / assessment_time",
           units="person/day", doc="Assessed as needing long-term home care.")
    m.flow("assessed to care home", "need_awaiting_assessment * share_to_care_home / assessment_time",
           units="person/day", doc="Assessed as needing a care home place.")
    m.flow("needs met otherwise", "need_awaiting_assessment * (1 - share_to_ic - share_to_home_care "
           "- share_to_care_home) / assessment_time", units="person/day",
           doc="Needs met by advice, equipment, carers or self-funded care.")
    m.flow("crises", "need_awaiting_assessment / crisis_time", units="person/day",
           doc="Unmet need becoming a crisis: an ED attendance.")
    m.aux("Unmet need", "need_awaiting_assessment + waiting_ic_community + waiting_home_care_community "
          "+ waiting_care_home_community", units="person",
          doc="People in the community with a care need that is not met: awaiting assessment or assessed and "
              "waiting for a service (domain D4).")
