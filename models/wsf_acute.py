"""Whole-system flow, acute sector: emergency department, beds, admissions and the 4-hour standard.

Part of :mod:`models.whole_system_flow`. The 4-hour distribution is derived from the bed queue:
the probability that an admitted patient waits for a bed and the tail of that wait come from
an M/M/c approximation (Halfin & Whitt 2005) of each pool of ``bed pool size`` beds at the
current occupancy, with the pool's mean bed turnover time; time in the department before the
decision (admitted) or to departure (not admitted) is log-normal, its median lengthened by
crowding (patients awaiting beds occupy cubicles and staff: exit block) and by the load on the
department. So 4-hour performance reaches 97-98% with slack beds and falls smoothly as
occupancy rises, and every capacity lever acts through occupancy.
"""

from __future__ import annotations

from sd_engine.builder import Model

from .wsf_demand import WINTER_SHAPE

__all__ = ["add_acute", "softmin", "normal_cdf", "normal_pdf"]


def normal_cdf(z: str) -> str:
    """Equation text of the standard normal CDF of `z`: the logistic-cubic approximation of Bowling
    et al. (2009), absolute error below 1.5e-4, safe for any finite `z`."""
    zz = f"min(8, max(-8, {z}))"
    return f"(1 / (1 + exp(-(1.5976 * {zz} + 0.070566 * {zz} * {zz} * {zz}))))"


def normal_pdf(z: str) -> str:
    """Equation text of the standard normal density of `z`."""
    return f"(0.3989422804 * exp(-0.5 * ({z}) * ({z})))"


def softmin(x: str, cap: str, sharpness: str, floor: str) -> str:
    """Equation text of a smooth minimum of `x` and `cap`: x - s softplus((x - cap) / s), s = sharpness * cap.

    Equal to `x` when it is well below the cap and to the cap when well above, with a smooth
    bend between (width a few per cent of the cap), so a capacity acts before it binds hard.
    `floor` is a tiny positive amount in the units of `cap` (the bend never has zero width).
    """
    s = f"({sharpness} * max({cap}, {floor}))"
    z = f"(({x}) - ({cap})) / {s}"
    return f"(({x}) - {s} * (max({z}, 0) + ln(1 + exp(-abs({z})))))"


def add_acute(m: Model) -> None:
    """Add the acute sector (ED, beds, admissions, the bed queue and the 4-hour standard) to builder `m`."""
    c = m.constant
    c("one per day", 1, units="person/day", doc="Unit rate (a floor in divisions).")
    c("one hour", 1, units="hour", doc="An hour.")
    c("hours per day", 24, units="hour/day", doc="Calendar conversion.")

    # -- admissions: conversion, trends ---------------------------------------------------------------
    c("conversion", 0.299, units="dimensionless",
      doc="Type-1 conversion (emergency admissions via A&E / attendances), FY2018/19 (derived, "
          "england_ae_trust_totals_monthly.csv: 0.275, 0.286, 0.299 in 2016/17-2018/19).")
    c("conversion trend", 0.015, units="1/year",
      doc="Growth of the conversion rate (acuity, frailty). Derived: emergency admissions +3.2%/yr 2006/07-2017/18 "
          "(Health Foundation) less type-1 attendances ≈+1.5%/yr; 2016-19 saw 4.2%/yr, partly coding of same-day care.")
    c("direct admissions multiplier", 0.35, units="dimensionless", doc="Emergency admissions not via A&E per admission "
      "via A&E. Derived: 26% of emergency admissions are direct (6.02 m all routes vs 4.46 m via A&E, 2017/18).")
    c("overnight fraction", 0.62, units="dimensionless", doc="Share of emergency admissions staying overnight, FY2018/19 "
      "(domain §4.2; approximate, assumed — calibrate).")
    c("overnight trend", -0.012, units="1/year",
      doc="Yearly change of the overnight share (same-day emergency care). Assumed — calibrate: with the LoS trend "
          "it keeps occupied bed days per head close to flat, as in England 2012-2019 (G&A beds fell, occupancy "
          "rose from ≈87% to ≈90%).")
    m.aux("conversion now", "min(0.8, conversion * exp(conversion_trend * years_from_reference) "
          "* conversion_season(day_of_year) * (1 - admission_avoidance_effect))", units="dimensionless",
          doc="Type-1 conversion today: trend, season and admission avoidance (New Care Models).")
    m.aux("decisions to admit", "ed_attendances * conversion_now", units="person/day",
          doc="Emergency admissions via A&E (all: overnight and same day).")
    m.aux("overnight share", "min(0.95, overnight_fraction * exp(overnight_trend * years_from_reference))",
          units="dimensionless", doc="Share of emergency admissions staying overnight.")
    m.aux("emergency bed demand", "overnight_share * decisions_to_admit * (1 + direct_admissions_multiplier)",
          units="person/day", doc="Overnight emergency admissions wanted, via A&E and direct.")

    # -- beds ----------------------------------------------------------------------------------------
    c("base beds", 1800, units="bed", doc="G&A beds, FY2018/19: ≈101,000 (KH03) / 56.")
    c("bed history trend", -0.009, units="1/year",
      doc="G&A beds per head before April 2018 (history, not a lever). Derived: 110,568 (2010/11) -> 102,194 "
          "(2019/20), KH03 via domain §5.")
    c("projection start year", 2018.25, units="year", doc="1 April 2018: history before it, levers after it.")
    c("bed change", 0, units="dimensionless", doc="Fractional change in G&A beds from day 1 (lever, ±0.2; domain §4.6).")
    m.aux("history index", "exp(bed_history_trend * (min(calendar_year, projection_start_year) "
          "- projection_start_year))", units="dimensionless",
          doc="NHS acute capacity per head before April 2018 relative to then (beds per head fell).")
    m.aux("capacity index", "history_index * exp((nhs_budget_growth - nhs_real_cost_growth) * years_since_start) "
          "* savings_index", units="dimensionless",
          doc="Funded NHS capacity relative to the start: real funding growth less real unit-cost growth, and "
              "savings cuts.")
    m.aux("core beds", "base_beds * scale * capacity_index * (1 + bed_change * policy_on)", units="bed",
          doc="Funded core G&A beds (C11).")
    c("nurse FTE per bed", 1.35, units="FTE/bed",
      doc="Ward registered-nurse FTE needed per staffed G&A bed (24/7 cover at about 1 nurse to 7-8 patients). "
          "Assumed — calibrate: with 55% of nurses on G&A wards it leaves ≈5% headroom over 1,800 beds in 2018/19.")
    c("bed sharpness", 0.01, units="dimensionless", doc="Width of the smooth minimum between beds and their limits, "
      "as a share of the limit. Assumed (numerical).")
    m.aux("staffable beds", "ward_nurses_available / nurse_fte_per_bed", units="bed",
          doc="Beds the ward nurses on duty can staff safely.")
    m.aux("staffed beds", softmin("core_beds", "staffable_beds", "bed_sharpness", "0.001 * one_bed"), units="bed", doc="Core beds open: limited smoothly by nurses (staffed beds).")
    m.aux("available beds", "staffed_beds + escalation_beds", units="bed", doc="Beds open: staffed core + escalation.")
    m.aux("occupied beds", "emergency_inpatients + elective_inpatients + acute_dtoc", units="bed",
          doc="Occupied G&A beds (midnight census).")
    m.aux("occupancy", "occupied_beds / available_beds", units="dimensionless", doc="G&A bed occupancy (KH03 definition).")

    # -- escalation: capped and costly (L7) ------------------------------------------------------------
    c("escalation trigger", 0.92, units="dimensionless", doc="Occupancy at which escalation beds open (domain §4.3).")
    c("escalation open time", 3, units="day", doc="Domain §4.3.")
    c("escalation close time", 30, units="day", doc="Domain §4.3.")
    c("escalation cap", 0.05, units="dimensionless", doc="Most escalation beds as a share of core beds. Assumed: "
      "escalation areas (day-surgery units, corridors) are finite.")
    c("escalation on", 1, units="dimensionless", doc="Coping switch (L7): 1 opens escalation beds under pressure.")
    m.stock("Escalation beds", initial="steady_escalation", inflows=["escalation opening"],
            outflows=["escalation closing"], units="bed", doc="Domain C12: beds opened under "
            "pressure, staffed by agency nurses at a premium.")
    m.flow("escalation opening", "min(escalation_on * max(0, occupancy - escalation_trigger) * core_beds "
           "/ escalation_open_time * max(0, 1 - escalation_beds / (escalation_cap * core_beds)), "
           "max(0, escalation_cap * core_beds - escalation_beds) / one_day)", units="bed/day",
           doc="Opening under pressure, slowing as the cap nears and never past it.")
    m.flow("escalation closing", "escalation_beds / escalation_close_time", units="bed/day", doc="Slow closing.")

    # -- admission and the bed queue ---------------------------------------------------------------------
    c("bed fill time", 1, units="day", doc="Time to fill an empty bed (one step): caps admissions at the free beds.")
    c("backlog clear time", 1, units="day", doc="Time to admit patients held over from the day before, when beds free.")
    m.aux("beds freed", "completions * (1 - complex_share) + hospital_transfers + elective_discharges", units="bed/day",
          doc="Beds vacated per day: discharges, deaths and transfers.")
    m.aux("free beds", "max(0, available_beds - occupied_beds)", units="bed", doc="Empty open beds.")
    m.aux("admission capacity", "(free_beds / bed_fill_time + beds_freed) * one_per_day / one_bed_per_day",
          units="person/day", doc="Most admissions a day: empty beds plus beds freed today.")
    c("one bed per day", 1, units="bed/day", doc="Unit conversion.")
    m.aux("bed requests", "emergency_bed_demand + excess_readmissions + urgent_conversions", units="person/day",
          doc="Overnight emergency admissions requested today.")
    m.flow("admissions", softmin("bed_requests + boarding_backlog / backlog_clear_time", "admission_capacity",
                                 "bed_sharpness", "0.001 * one_per_day"), units="person/day",
           doc="Emergency overnight admissions: all requests when beds are free, the free beds when they are not "
               "(smooth minimum, L1 admission throttle).")
    m.stock("Boarding backlog", initial=0, inflows=["bed requests flow"], outflows=["admissions"], units="person",
            non_negative=True, doc="Patients not admitted within the day (held in ED or on trolleys): zero unless "
            "beds run out (gridlock).")
    m.flow("bed requests flow", "bed_requests", units="person/day", doc="Overnight admissions requested.")

    c("bed pool size", 40, units="bed", doc="Beds per independently managed pool (ward / specialty group) in the "
      "M/M/c bed-queue approximation. Assumed; chosen against England's performance outside the fit window "
      "(96-98% in 2006-10 with slack beds, 92-95% in 2012-15); the 12 in-sample months cannot identify it (a "
      "free fit ran to the bound). See the model card.")
    m.aux("queue occupancy", "min(occupancy, 0.995)", units="dimensionless", doc="Occupancy in the queueing formulae "
          "(capped: the gridlock backlog takes over at full beds).")
    m.aux("halfin whitt beta", "(1 - queue_occupancy) * sqrt(bed_pool_size / one_bed)", units="dimensionless",
          doc="Spare capacity in standard deviations of a pool's occupancy (Halfin & Whitt).")
    c("one bed", 1, units="bed", doc="Unit count.")
    m.aux("probability of waiting", f"{normal_pdf('halfin_whitt_beta')} / ({normal_pdf('halfin_whitt_beta')} "
          f"+ halfin_whitt_beta * {normal_cdf('halfin_whitt_beta')})", units="dimensionless",
          doc="Share of patients who must wait for a bed (Erlang C, Halfin-Whitt approximation).")
    m.aux("bed turnover time", "max(0.5, occupied_beds / max(beds_freed, 0.001 * one_bed_per_day))", units="day",
          doc="Mean time a bed is occupied (Little's law).")
    m.aux("wait if waiting", "bed_turnover_time / (bed_pool_size / one_bed * (1 - queue_occupancy)) * hours_per_day",
          units="hour", doc="Mean wait of those who wait (M/M/c: exponential with rate c(1 - ρ)/turnover).")
    m.aux("mean time to a bed", "probability_of_waiting * wait_if_waiting + boarding_backlog "
          "/ max(bed_requests, 0.001 * one_per_day) * hours_per_day", units="hour",
          doc="Mean wait for a bed after the decision to admit.")
    m.aux("Awaiting a bed", "decisions_to_admit * probability_of_waiting * wait_if_waiting / hours_per_day "
          "+ boarding_backlog", units="person",
          doc="Patients waiting for a bed after a decision to admit (Little's law on the queue, plus any backlog).")

    # -- the emergency department and the 4-hour standard -------------------------------------------------
    c("median time to decision", 2.0, units="hour", doc="Median time from arrival to the decision to admit, "
      "uncrowded. Assumed — calibrate.")
    c("sd log time to decision", 0.40, units="dimensionless", doc="Log-normal spread of time to decision. Assumed.")
    c("median time non admitted", 1.98991, units="hour", doc="Median time in ED of patients sent home, uncrowded. Fitted "
      "to England's 4-hour performance, see the model card.")
    c("sd log time non admitted", 0.40, units="dimensionless", doc="Log-normal spread of time in ED, non-admitted. Assumed.")
    c("ED cubicles", 45, units="person", doc="Majors cubicles and trolleys per 1 m (where boarders wait). Assumed.")
    c("boarding crowding", 0.15, units="dimensionless", doc="Rise in ED process times per boarder per cubicle (exit "
      "block). Assumed (set with the bed pool size; not identified by the fit).")
    c("ED load sensitivity", 0.1, units="dimensionless", doc="Rise in ED process times per unit load above the "
      "department's capacity. Assumed — calibrate.")
    c("target focus", 0.1, units="dimensionless", doc="Cut in ED process times per unit of target pressure above 1 "
      "(regulatory incentive: the 2004-2010 4-hour target drove process redesign; two-sided with blame). Assumed.")
    m.aux("ED capacity", "ed_reference_attendances * capacity_index * (1 - sickness) / (1 - base_sickness)",
          units="person/day", doc="Attendances the department handles at normal pace: FY2018/19 demand, with "
          "funded capacity and staff sickness.")
    c("ED reference attendances", 767, units="person/day",
      doc="Type-1 attendances per 1 m per day, FY2018/19 (derived: 15.68 m / 365 / 55.98 m).")
    m.aux("ED load", "ed_attendances / (ed_capacity * scale)", units="dimensionless", doc="Demand over capacity.")
    m.aux("boarders per cubicle", "awaiting_a_bed / (ed_cubicles * scale)", units="dimensionless",
          doc="Patients awaiting a bed per ED cubicle.")
    m.aux("ED crowding", "(1 + boarding_crowding * boarders_per_cubicle / (1 + boarders_per_cubicle / 2) "
          "+ ed_load_sensitivity * max(-0.5, ed_load - 1)) * (1 - target_focus * policy_on * (target_pressure - 1))",
          units="dimensionless", doc="Multiplier on ED process times: boarders (exit block, saturating as the "
                                     "department fills), load, and target focus.")
    m.aux("median decision time now", "median_time_to_decision * ed_crowding", units="hour", doc="Median time to decision.")
    m.aux("median non admitted time now", "median_time_non_admitted * ed_crowding", units="hour",
          doc="Median time in ED of patients sent home.")
    m.aux("non admitted within 4h", normal_cdf("ln(4 * one_hour / median_non_admitted_time_now) "
          "/ sd_log_time_non_admitted"), units="dimensionless", doc="Share of non-admitted patients within 4 hours.")
    m.aux("decided within 4h", normal_cdf("ln(4 * one_hour / median_decision_time_now) / sd_log_time_to_decision"),
          units="dimensionless", doc="Share of admitted patients decided within 4 hours of arrival.")
    m.aux("gridlock share", "boarding_backlog / (boarding_backlog + max(bed_requests, 0.001 * one_per_day) * one_day)",
          units="dimensionless", doc="Share of today's admissions held over from earlier days.")
    c("one day", 1, units="day", doc="A day.")
    m.aux("admitted within 4h", "decided_within_4h * (1 - probability_of_waiting * exp(-max(0, 4 * one_hour "
          "- median_decision_time_now) / wait_if_waiting)) * (1 - gridlock_share)", units="dimensionless",
          doc="Share of admitted patients in ED under 4 hours: decided, then a bed before 4 hours.")
    m.aux("four hour performance", "(1 - conversion_now) * non_admitted_within_4h + conversion_now "
          "* admitted_within_4h", units="dimensionless",
          doc="Share of type-1 attendances completed within 4 hours (the published standard is 95%).")
    m.aux("delayed over 6h", normal_cdf("-ln(6 * one_hour / median_decision_time_now) / sd_log_time_to_decision")
          + " + probability_of_waiting * exp(-max(0, 6 * one_hour - median_decision_time_now) / wait_if_waiting) "
          "+ gridlock_share", units="dimensionless",
          doc="Share of admitted patients more than 6 hours in ED (approximate tail).")
    m.aux("twelve hour waits", "decisions_to_admit * min(1, probability_of_waiting * exp(-max(0, 12 * one_hour "
          "- median_decision_time_now) / wait_if_waiting) + gridlock_share)", units="person/day",
          doc="Admitted patients more than 12 hours in ED per day.")

    # -- inpatients and length of stay ----------------------------------------------------------------------
    c("active LoS", 6.6, units="day", doc="Emergency overnight stay excluding delay, FY2018/19. Derived: the "
      "Little's-law reconciliation of domain §4.2 (192 overnight admissions a day fill ≈1,270 beds); the total "
      "emergency mean stay was 7.9 d in 2019 (Health Foundation).")
    c("LoS trend", -0.01, units="1/year", doc="Yearly change in emergency length of stay (productivity; England's fell "
      "for two decades to 2019). Assumed — calibrate.")
    c("winter LoS rise", 0.057389, units="dimensionless", doc="Rise in emergency length of stay at the January peak, "
      "relative to the year (older, frailer, respiratory winter case mix). Fitted to England's 4-hour seasonality, "
      "see the model card.")
    c("winter mean", round(sum(WINTER_SHAPE) / 12, 6), units="dimensionless", doc="Mean of the winter shape over "
      "the year (keeps the mean stay at `active LoS`; derived from WINTER_SHAPE).")
    m.lookup("f outlier", [(0.85, 1.0), (0.92, 1.02), (0.96, 1.05), (1.00, 1.08)], units="dimensionless",
             doc="LoS multiplier from outlying against occupancy (L3; Wolstenholme et al. 2007). The domain's "
                 "suggested points (§4.4) flattened: at their slope the outlier loop's gain exceeds 1 above 92% "
                 "occupancy (elasticity of stay to occupancy > 1), so every winter would tip into gridlock.")
    m.lookup("early discharge cut", [(0.85, 0.0), (0.92, 0.03), (0.96, 0.06), (1.00, 0.10)], units="dimensionless",
             doc="Share of stay cut by early discharge against occupancy (coping, L4). Assumed.")
    c("early discharge on", 1, units="dimensionless", doc="Coping switch (L4): 1 discharges early under pressure.")
    m.aux("seasonal LoS", "active_los * exp(los_trend * years_from_reference) * (1 + winter_los_rise "
          "* (winter_shape(day_of_year) - winter_mean))", units="day", doc="Active stay before pressure effects.")
    m.aux("outlier effect", "f_outlier(occupancy)", units="dimensionless", doc="Outlying lengthens stays (L3).")
    m.aux("early discharge effect", "1 - early_discharge_on * early_discharge_cut(occupancy)", units="dimensionless",
          doc="Early discharge shortens stays under pressure (coping, L4).")
    m.aux("LoS multiplier", "outlier_effect * early_discharge_effect * capability_los_effect * staffing_los_effect "
          "* pace_los_effect", units="dimensionless",
          doc="Outlying (L3), early discharge (L4), capability (L11), staffing (L10), solutions at pace.")
    m.stock("Emergency inpatients", initial="steady_emergency_inpatients", inflows=["admissions"],
            outflows=["completions"], units="person",
            doc="Domain C3: emergency inpatients in the active phase of care. Starts at equilibrium.")
    m.flow("completions", "emergency_inpatients / (seasonal_los * los_multiplier)", units="person/day",
           doc="Completion of the active phase (to discharge, death or onward care).")
    c("complex share", 0.15, units="dimensionless", doc="Completions needing onward arrangements (domain §4.3).")
    c("death share", 0.035, units="dimensionless", doc="In-hospital deaths, share of emergency spells (domain §4.3).")
    m.aux("discharges home", "completions * (1 - complex_share - death_share) + transfers_home", units="person/day",
          doc="Discharges home, simple and after onward assessment.")
    m.aux("hospital deaths", "completions * death_share", units="person/day", doc="Deaths in hospital.")
    c("readmission fraction", 0.08, units="dimensionless", doc="Emergency readmissions within 30 days per discharge home "
      "(domain §4.3; assumed — calibrate).")
    m.lookup("f premature", [(0.85, 1.0), (0.92, 1.2), (0.96, 1.6), (1.00, 2.0)], units="dimensionless",
             doc="Readmission multiplier against occupancy (domain §4.4).")
    m.aux("readmission multiplier", "(1 + early_discharge_on * (f_premature(occupancy) - 1)) "
          "* capability_failure_effect", units="dimensionless", doc="Premature discharge and capability on readmissions.")
    m.aux("readmissions", "readmission_fraction * discharges_home * readmission_multiplier", units="person/day",
          doc="Emergency readmissions (failure demand, L4).")
    m.aux("excess readmissions", "readmission_fraction * discharges_home * (readmission_multiplier "
          "- initial(readmission_multiplier))", units="person/day",
          doc="Readmissions beyond the start's rate (those at it are already in the conversion rate).")

    # -- electives (Lane, Monefeldt & Rosenhead 2000: the elective buffer, L2) -------------------------------
    c("elective LoS", 5.2, units="day", doc="Health Foundation 2019.")
    c("planned electives", 57.7, units="person/day", doc="Overnight elective admissions planned per 1 m per day, "
      "FY2018/19: 300 elective beds / 5.2 d (domain C4). Assumed — calibrate.")
    c("elective demand trend", 0.02, units="1/year", doc="Growth of elective referrals (ageing, technology). Assumed; "
      "the English waiting list grew from 2.5 m (2012) to 4.4 m (2019), House of Commons Library CBP-7281.")
    c("urgent conversion rate", 0.01, units="1/year", doc="Waiting-list patients becoming emergencies (L2 tail). Assumed.")
    m.lookup("elective cancellation", [(0.92, 0.0), (0.95, 0.1), (0.98, 0.35), (1.0, 0.7)], units="dimensionless",
             doc="Share of planned electives cancelled against occupancy (coping: electives postponed to protect "
                 "emergency flow, e.g. NHS England's January 2018 deferral). Assumed.")
    m.aux("planned elective admissions", "planned_electives * scale * capacity_index "
          "* christmas_electives(christmas_day_of_year)", units="person/day", doc="Electives planned today.")
    m.flow("elective admissions", softmin("planned_elective_admissions * (1 - elective_cancellation(occupancy))",
                                          "max(0.001 * one_per_day, admission_capacity - admissions)", "bed_sharpness",
                                          "0.001 * one_per_day"),
           units="person/day", doc="Electives admitted: planned less cancellations, within the beds left (L2).")
    m.aux("elective cancellations", "planned_elective_admissions - elective_admissions", units="person/day",
          doc="Cancellations (Lane et al. 2000).")
    m.stock("Elective inpatients", initial="steady_elective_admissions * elective_los", inflows=["elective admissions"],
            outflows=["elective discharges"], units="person", doc="Domain C4.")
    m.flow("elective discharges", "elective_inpatients / elective_los", units="person/day", doc="Elective discharges.")
    c("reference waiting list", 80000, units="person", doc="Domain C6: 4.5 m (Oct 2019) / 56.")
    m.stock("Elective waiting list", initial="reference_waiting_list * scale * exp(elective_demand_trend "
            "* (start_year - reference_year))", inflows=["referrals to treatment"],
            outflows=["elective admissions", "urgent conversions"], units="person",
            doc="Domain C6, moved along the referral trend for other start dates.")
    m.flow("referrals to treatment", "planned_electives * scale * exp(elective_demand_trend * years_from_reference) "
           "+ initial(urgent_conversions)", units="person/day", doc="Additions to the waiting list.")
    m.flow("urgent conversions", "elective_waiting_list * urgent_conversion_rate / days_per_year", units="person/day",
           doc="Waiting patients who become emergencies (L2 tail).")

    # -- day-0 equilibrium of the acute sector (closed form; see the model card) ----------------------------
    # Inpatients = admissions x stay (Little's law). The stay depends on occupancy through the
    # outlier and early-discharge tables, so occupancy is found in two passes (the second is
    # exact to well under 1% at England's levels). Nurses, capability and trust are at their
    # reference levels on day 0, so their LoS effects are 1.
    m.aux("steady elective admissions", "planned_elective_admissions", units="person/day",
          doc="Day-0 electives (no cancellations at day-0 occupancy).")
    m.aux("steady bed requests", "emergency_bed_demand + urgent_conversions", units="person/day",
          doc="Day-0 overnight emergency admissions.")
    m.aux("steady occupancy 1", "(steady_bed_requests * seasonal_los + steady_elective_admissions * elective_los "
          "+ acute_dtoc) / core_beds", units="dimensionless", doc="Day-0 occupancy, first pass.")
    m.aux("steady los factor", "f_outlier(steady_occupancy_1) * (1 - early_discharge_on "
          "* early_discharge_cut(steady_occupancy_1))", units="dimensionless", doc="Day-0 occupancy effects on stay.")
    m.aux("steady emergency inpatients", "min(steady_bed_requests * seasonal_los * steady_los_factor, "
          "max(0, 0.98 * core_beds - steady_elective_admissions * elective_los - acute_dtoc) * one_person / one_bed)",
          units="person", doc="Day-0 equilibrium of emergency inpatients; where demand would overfill the beds "
                              "there is no equilibrium, and the start is 98% full.")
    m.aux("steady occupancy", "(steady_emergency_inpatients + steady_elective_admissions * elective_los + acute_dtoc) "
          "/ core_beds", units="dimensionless", doc="Day-0 occupancy of the core beds (nurses suffice on day 0).")
    m.aux("steady escalation open", "escalation_on * max(0, steady_occupancy - escalation_trigger) * core_beds "
          "/ escalation_open_time * escalation_close_time", units="bed",
          doc="Escalation beds the day-0 opening rate would hold open without the cap.")
    m.aux("steady escalation", "steady_escalation_open / (1 + steady_escalation_open / (escalation_cap * core_beds))",
          units="bed", doc="Day-0 equilibrium of escalation beds (opening = closing, with the cap).")
