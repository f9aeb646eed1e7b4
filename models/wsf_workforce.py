"""Whole-system flow, workforce: registered nurses (pipeline, recruitment limited by funded posts,
fatigue, seasonal sickness, pay), agency cover, social care workers and GPs.

Part of :mod:`models.whole_system_flow`. Nurses staff the G&A beds (``staffed beds`` in the
acute sector), so a nurse shortage closes beds; hiring needs vacancies, so nurses cannot grow
beyond funded posts (Homer 1985; Health Foundation workforce data).
"""

from __future__ import annotations

from sd_engine.builder import Model

__all__ = ["add_workforce"]


def add_workforce(m: Model) -> None:
    """Add the workforce sector (nurses, social care workers, GPs) to builder `m`."""
    c = m.constant
    # -- nurses ---------------------------------------------------------------------------------------
    c("base nurses", 5050, units="FTE", doc="Registered nurses, 282,661 FTE (July 2018, NHS Digital) / 56.")
    c("base nurse vacancy rate", 0.12, units="dimensionless", doc="≈12% (≈44,000) in Q1 2019/20 (Health Foundation).")
    c("training places", 360, units="FTE/year", doc="Nurse starters per 1 m per year (domain W1; assumed — calibrate).")
    c("training increase", 0, units="FTE/year", doc="Extra starters per 1 m per year from `training start` (lever; "
      "domain +25% = 90).")
    c("training start", 365, units="day", doc="Start of the extra training places (lever).")
    c("student attrition", 0.25, units="dimensionless", doc="24–25% (bursary-era cohorts; domain §4.3).")
    c("course length", 1095, units="day", doc="3-year degree.")
    c("leave rate", 0.107, units="1/year", doc="Nurse leaver rate 2017/18 (Health Foundation, Falling short).")
    c("retention gain", 0, units="dimensionless", doc="Fractional cut in the leave rate from day 1 (lever, 0–0.3).")
    c("international recruits", 60, units="FTE/year", doc="International nurse recruits per 1 m per year (lever; "
      "domain §4.6, assumed).")
    c("hiring half vacancy", 0.03, units="dimensionless", doc="Vacancy rate at which hiring is half its potential: "
      "no vacancies, no hires (joiners need funded posts). Assumed.")
    c("NHS pay index", 1, units="dimensionless", doc="NHS nurse pay relative to FY2018/19 (lever, 0.95–1.1; two-sided: "
      "retention against cost).")
    c("reference fatigue", 0.3, units="dimensionless", doc="Domain W3: nurse fatigue in FY2018/19 (latent; assumed).")
    m.lookup("f fatigue", [(0, 0.8), (0.3, 1.0), (0.6, 1.5), (1, 2.5)], units="dimensionless",
             doc="Leaver multiplier against fatigue (domain §4.4).")
    m.lookup("f pay", [(0.8, 1.4), (1.0, 1.0), (1.2, 0.8)], units="dimensionless",
             doc="Leaver multiplier against relative pay (domain §4.4).")
    m.aux("nurse establishment", "base_nurses * scale / (1 - base_nurse_vacancy_rate) * capacity_index",
          units="FTE", doc="Funded nurse posts: FY2018/19 in post plus 12% vacancies, with funded capacity.")
    m.stock("Student nurses", initial="training_places * scale / days_per_year * course_length",
            inflows=["nurse starters"], outflows=["graduation", "student drop outs"], units="FTE", doc="Domain W1.")
    m.flow("nurse starters", "(training_places + step(training_increase, training_start)) * scale / days_per_year",
           units="FTE/day", doc="Students starting (lever).")
    m.flow("graduation", "student_nurses / course_length * (1 - student_attrition)", units="FTE/day",
           doc="Newly qualified nurses.")
    m.flow("student drop outs", "student_nurses / course_length * student_attrition", units="FTE/day", doc="Attrition.")
    m.aux("nurse vacancy rate", "max(0, nurse_establishment - nurses) / nurse_establishment", units="dimensionless",
          doc="Vacancies / funded posts.")
    m.aux("hiring factor", "(nurse_vacancy_rate / (nurse_vacancy_rate + hiring_half_vacancy)) "
          "/ (base_nurse_vacancy_rate / (base_nurse_vacancy_rate + hiring_half_vacancy))", units="dimensionless",
          doc="Joiners relative to FY2018/19: they need vacancies (L9).")
    c("reference international recruits", 60, units="FTE/year", doc="International recruits per 1 m per year in "
      "FY2018/19 (domain §4.6, assumed).")
    m.aux("returners and other joiners", "base_nurses * leave_rate * f_fatigue(reference_fatigue) - training_places "
          "* (1 - student_attrition) - reference_international_recruits", units="FTE/year",
          doc="Derived: joiners from outside the pipeline that balance leavers in FY2018/19 (domain §4.2 equilibrium "
              "note), per 1 m.")
    m.flow("nurse hires", "(graduation + (initial(returners_and_other_joiners) + international_recruits) * scale "
           "/ days_per_year) * hiring_factor", units="FTE/day",
           doc="Graduates, returners and international recruits taking funded posts (L9).")
    m.flow("nurse leavers", "nurses * leave_rate * (1 - retention_gain * policy_on) * f_fatigue(nurse_fatigue) "
           "* f_pay(nhs_pay_index) / days_per_year", units="FTE/day", doc="Leavers (L8).")
    m.flow("nurse post cuts", "nurses * savings_rate_now / days_per_year", units="FTE/day",
           doc="Posts removed by a savings programme (L12).")
    m.stock("Nurses", initial="base_nurses * scale * history_index", inflows=["nurse hires"],
            outflows=["nurse leavers", "nurse post cuts"], units="FTE", non_negative=True, doc="Domain W2.")
    m.aux("nurse leaver rate", "nurse_leavers * days_per_year / nurses", units="1/year", doc="Leavers per nurse per year.")

    c("acute share", 0.55, units="dimensionless", doc="Share of nurses on G&A wards. Assumed — calibrate (≈60%).")
    c("fatigue sickness", 0.5, units="dimensionless", doc="Rise in sickness per unit fatigue above normal (domain §4.2).")
    c("base sickness", 0.043, units="dimensionless", doc="Mean NHS sickness absence (NHS Digital; the seasonal table "
      "averages ≈4.3%).")
    m.aux("sickness", "sickness_season(day_of_year) * (1 + fatigue_sickness * (nurse_fatigue - reference_fatigue))",
          units="dimensionless", doc="Nurse sickness absence: season (NHS Digital) and fatigue (L8).")
    c("improvement backfill", 0.5, units="dimensionless", doc="Share of nurse time on improvement beyond the base "
      "that is backfilled (funded cover). Assumed.")
    m.aux("permanent ward nurses", "nurses * acute_share * (1 - sickness) * (1 - reference_improvement_time "
          "- (1 - improvement_backfill) * (improvement_time_now - reference_improvement_time))", units="FTE",
          doc="Ward nurses on duty for direct care: less the time on improvement not backfilled.")
    c("agency fill", 0.6, units="dimensionless", doc="Share of a ward nurse shortfall filled by agency staff. Assumed.")
    m.aux("core nurse need", "core_beds * nurse_fte_per_bed", units="FTE", doc="Nurses to staff every core bed.")
    m.aux("agency nurses", "agency_fill * max(0, core_nurse_need - permanent_ward_nurses) + escalation_beds "
          "* nurse_fte_per_bed", units="FTE", doc="Agency cover: part of the shortfall, and escalation beds (L7).")
    m.aux("ward nurses available", "permanent_ward_nurses + agency_fill * max(0, core_nurse_need "
          "- permanent_ward_nurses)", units="FTE", doc="Nurses staffing core beds.")
    m.aux("nurse demand", "occupied_beds * nurse_fte_per_bed", units="FTE", doc="Nurses the occupied beds need.")
    m.aux("workload ratio", "nurse_demand / (ward_nurses_available + escalation_beds * nurse_fte_per_bed)",
          units="dimensionless", doc="Patients per nurse relative to the staffing norm.")
    c("work hour limit", 1.15, units="dimensionless", doc="Cap on nurse effort relative to the staffing norm (lever; "
      "domain §4.3: +15%; Homer 1985's work limit). Below the usual workload it cuts fatigue and throughput.")
    m.aux("effort", "min(workload_ratio, work_hour_limit)", units="dimensionless", doc="Working harder (L10).")
    m.aux("staffing adequacy", "min(1, (ward_nurses_available + escalation_beds * nurse_fte_per_bed) * effort "
          "/ nurse_demand)", units="dimensionless", doc="Share of nursing need met.")
    c("staff LoS sensitivity", 0.5, units="dimensionless", doc="LoS rise per unit staffing shortfall. Assumed.")
    m.aux("staffing LoS effect", "1 + staff_los_sensitivity * (1 - staffing_adequacy)", units="dimensionless",
          doc="Short staffing lengthens stays (L10).")
    c("fatigue time", 56, units="day", doc="Domain §4.3.")
    c("recovery time", 84, units="day", doc="Domain §4.3.")
    c("fatigue threshold", 0.68, units="dimensionless", doc="Effort below which fatigue does not build. Derived: holds "
      "fatigue ≈0.3 at the FY2018/19 workload (effort ≈0.85).")
    m.stock("Nurse fatigue", initial="steady_fatigue", inflows=["fatigue build up"], outflows=["fatigue recovery"],
            units="dimensionless", non_negative=True, doc="Domain W3, starting at its day-0 equilibrium.")
    m.flow("fatigue build up", "max(0, effort - fatigue_threshold) / fatigue_time", units="1/day", doc="Domain §4.2.")
    m.flow("fatigue recovery", "nurse_fatigue / recovery_time", units="1/day", doc="Domain §4.2.")
    m.aux("steady effort", "min(work_hour_limit, steady_occupancy * core_beds * nurse_fte_per_bed / (nurses * acute_share "
          "* (1 - sickness_season(day_of_year)) * (1 - reference_improvement_time)))", units="dimensionless",
          doc="Day-0 effort (workload at the day-0 occupancy, normal sickness).")
    m.aux("steady fatigue", "recovery_time / fatigue_time * max(0, steady_effort - fatigue_threshold)",
          units="dimensionless", doc="Day-0 equilibrium fatigue.")

    # -- social care workforce --------------------------------------------------------------------------------
    c("social care turnover", 0.30, units="1/year", doc="Skills for Care (29–31%).")
    c("hire time", 90, units="day", doc="Domain τ_hire (assumed).")
    c("base social care establishment", 30100, units="FTE", doc="Funded posts per 1 m: 28,000 FTE in post + ≈7% "
      "vacancies (Skills for Care; ≈1.57 m jobs / 56 as FTE, assumed).")
    c("social care pay index", 1, units="dimensionless", doc="Social care pay relative to FY2018/19 (lever, 0.9–1.2; "
      "two-sided: recruitment and retention against the LA budget left for prevention).")
    m.aux("social care establishment", "base_social_care_establishment * scale * la_funding_index", units="FTE",
          doc="Funded social care posts.")
    m.aux("sc vacancy rate", "max(0, social_care_establishment - social_care_workers) / social_care_establishment",
          units="dimensionless", doc="Social care vacancy rate (7.8% in 2018/19, Skills for Care).")
    m.aux("sc pay now", "1 + (social_care_pay_index - 1) * policy_on", units="dimensionless", doc="Pay index in force.")
    m.stock("Social care workers", initial="social_care_establishment / (1 + social_care_turnover * hire_time "
            "/ days_per_year)", inflows=["social care hires"], outflows=["social care leavers"], units="FTE",
            non_negative=True, doc="Domain W4, starting at the equilibrium of hires and leavers.")
    m.flow("social care hires", "max(0, social_care_establishment - social_care_workers) / hire_time * sc_pay_now "
           "* sc_pay_now", units="FTE/day", doc="Hires (domain §4.2); pay raises applicants (elasticity 2, assumed).")
    m.flow("social care leavers", "social_care_workers * social_care_turnover * f_pay(sc_pay_now) / days_per_year",
           units="FTE/day", doc="Leavers (29–31%, Skills for Care).")

    # -- GPs (primary care access) ----------------------------------------------------------------------------
    c("base GPs", 489, units="FTE", doc="27,381 FTE GPs (March 2019, NHS Digital) / 56.")
    c("gp training places", 26.7, units="FTE/year", doc="80 trainees / 3 years per 1 m (domain W6). Assumed — calibrate.")
    c("gp training increase", 0, units="FTE/year", doc="Extra GP training places per 1 m per year from day 1 (lever).")
    c("gp course length", 1095, units="day", doc="3-year GP specialty training.")
    c("gp leave rate", 0.08, units="1/year", doc="Domain §4.3 (assumed — calibrate).")
    m.stock("GP trainees", initial="gp_training_places * scale / days_per_year * gp_course_length",
            inflows=["gp training starts"], outflows=["gp completions"], units="FTE", doc="Domain W6.")
    m.flow("gp training starts", "(gp_training_places + gp_training_increase * policy_on) * scale / days_per_year",
           units="FTE/day", doc="Starters.")
    m.flow("gp completions", "gp_trainees / gp_course_length", units="FTE/day", doc="3-year GP training.")
    m.stock("GPs", initial="base_gps * scale", inflows=["gp completions", "gp joiners"], outflows=["gp leavers"],
            units="FTE", non_negative=True, doc="Domain W5.")
    m.flow("gp joiners", "(base_gps * gp_leave_rate - gp_training_places) * scale / days_per_year", units="FTE/day",
           doc="Derived: returners and international GPs balancing leavers in FY2018/19.")
    m.flow("gp leavers", "gps * gp_leave_rate / days_per_year", units="FTE/day", doc="Domain §4.2.")
