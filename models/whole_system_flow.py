"""Whole-system flow: demand, capacity and flow, workforce, and trust & capability for one system.

Purpose
    The reference model of the domain document (§3–§4): a local health and social care
    economy of ``population`` people (1,000,000 by default, about one integrated care system;
    set 55,980,000 for England), run in days over up to 15 years, with the policy levers of
    the Health Foundation / AQuA *whole system flow* report (Fillingham, Jones & Pereira 2016)
    and the mechanisms of the system-dynamics literature (Wolstenholme, Lane, Brailsford,
    Repenning & Sterman, Homer, Rudolph & Repenning, Luna-Reyes, Seddon). Outcomes cover the
    triple aim plus staff: ED 4-hour performance, delayed transfers (DToC), the elective
    waiting list and unmet need; cost and the financial position; nurse fatigue and leavers.

Structure (time unit: day; Euler, dt = 1 d (domain §3); 15 years; England values / 55.98 m per 1 m)
    Demand: population by age band (under 65, 65 to 84, 85 plus), unmet care need. ED
    attendances = value demand (age-specific rates x seasonal index x GP access x unmet
    need) + crises from unmet need + re-attendances (failure demand). Patients in ED are an
    auxiliary, attendances x time in ED (Little's law), because time in ED (hours) is far
    below the time step.
    Capacity/flow: ``Awaiting a bed`` -> ``Emergency inpatients`` -> ``Acute DToC`` -> home,
    home care, intermediate care or a care home; ``Elective inpatients`` fed from the
    ``Elective waiting list``; ``Escalation beds``; ``Intermediate care clients``, ``Home
    care clients``, ``Care home residents``; a ``Savings index`` that scales beds.
    Workforce: ``Student nurses`` -> ``Nurses``; ``Nurse fatigue``; ``Social care workers``;
    ``GP trainees`` -> ``GPs``.
    Trust & capability: ``Trust``, ``Shared knowledge``, ``Improvement capability``,
    ``Perceived pressure`` and ``Financial position``.
    Not represented separately: non-acute DToC (C8) and the birth/migration series (an
    assumed constant rate).

Feedback loops (domain §4.5; checked on the dependency graph)
    L1 Admission throttle (B): occupancy -> free beds -> admissions -> emergency inpatients.
    L2 Elective buffer (B): occupancy -> free beds -> elective admissions -> elective inpatients;
    tail: waiting list -> urgent conversions -> awaiting a bed.
    L3 Outlier congestion (R): occupancy -> LoS multiplier -> completions -> emergency inpatients.
    L4 Premature discharge (R): occupancy -> early discharge -> discharges home -> readmissions ->
    awaiting a bed -> admissions.
    L5 Downstream blockage (R): DToC -> mean delay -> deconditioning -> care-need shift ->
    care home / home care transfers -> residents -> free places -> transfers -> DToC.
    L6 Spot-purchase fix (R): DToC -> spot purchases -> LA funding index -> home care capacity ->
    transfers -> DToC.
    L7 Escalation beds (B): occupancy -> escalation opening -> escalation beds -> occupancy; side
    effect: escalation -> nurse demand -> workload -> fatigue, and agency spend -> deficit.
    L8 Burnout–attrition (R): nurses -> workload -> effort -> fatigue -> leavers -> nurses.
    L9 Recruitment (B): nurse vacancies -> international recruits (and training) -> nurses.
    L10 Work harder (B): pressure... occupancy -> nurse demand -> workload -> effort ->
    staffing adequacy -> LoS -> occupancy.
    L11 Capability trap (R): pressure -> improvement time -> capability -> LoS -> occupancy ->
    pressure.
    L12 Savings spiral (R): deficit -> savings rate -> savings index -> beds -> occupancy ->
    escalation and agency spend -> deficit.
    L13 Trust–collaboration (R): trust -> placement time -> transfers -> DToC -> joint success ->
    trust building -> trust.
    L14 Blame (R): DToC -> blame -> trust erosion -> trust -> placement time -> DToC.
    L15 Overwhelm tipping (R beyond a threshold): ED time -> patients in ED... here represented
    by occupancy -> ED time -> breaches -> pressure -> improvement time (the ED is algebraic);
    the full tipping dynamics are in ``interruptions_tipping_point``.
    L16 Policy churn (R): capability results -> initiative abandoned -> restructuring loss of
    capability and knowledge -> capability.

Parameters
    Every constant carries its unit, default and source in its ``doc`` (``describe`` /
    ``model.spec["name"].doc``); the main ones: ED rates a1–a3 0.235 / 0.40 / 1.00 per person
    per year (assumed — calibrate, target 767 type-1 attendances a day per 1 m); conversion
    0.30 (derived, NHS England); direct admissions multiplier 0.35 (derived); overnight
    fraction 0.55 and active LoS 6.0 d (the Little's-law reconciliation of domain §4.2, within
    the stated ranges); elective LoS 5.2 d (Health Foundation); G&A beds 1,800, care home
    places 8,150, nurses 5,050 FTE, GPs 489 FTE, social care workers 28,000 FTE (England ÷ 56);
    trust build / erode 730 / 90 d, learning 365 d, capability erosion 730 d (assumed).

Policy levers (constants; time-varying ones as start/end dates or schedules, see ``models.scenarios``)
    ``nhs budget growth``; ``social care funding growth``; ``pooled budget share`` (default
    0.03); ``fine per delayed day``; ``target pressure``; ``system accountability``;
    ``savings rate`` from ``savings start`` to ``savings end`` (days); ``improvement time`` and
    ``tests of change``; ``redesign time`` from ``redesign start`` judged after ``evaluation
    window``; ``training places`` and ``training increase`` from ``training start``;
    ``retention gain``; ``international recruits``; ``social care pay index``; ``bed
    change``, ``intermediate care change``, ``care home change``; ``first reorganisation``
    and ``reorganisation interval``; the coping switches ``escalation on``, ``early discharge
    on``, ``spot purchase on``; ``population``.
"""

from pathlib import Path

from sd_engine.builder import Model

#: The scenario files shipped with this model (read through `sd_engine.scenario.shipped`).
SCENARIO_DIR = Path(__file__).with_name("scenarios")

#: The 12 monthly type-1 seasonal indices (domain §4.2, ratio to a centred 12-month mean,
#: 2011-2019), placed at mid-month days of the year; the lookup holds the end values.
_SEASONAL = ((15, 0.95), (45, 0.99), (74, 1.02), (105, 1.00), (135, 1.03), (166, 1.03),
             (196, 1.04), (227, 0.97), (258, 1.00), (288, 1.01), (319, 1.01), (349, 0.99))


#: The 16 named loops of the domain document (section 4.5) as variables on each loop, in
#: causal order; `model.loops()` names the loops it finds after them.
LOOPS = {
    "L1 admission throttle": ["emergency_inpatients", "occupied_beds", "free_beds", "admissions"],
    "L2 elective buffer": ["occupied_beds", "free_beds", "elective_admissions", "elective_inpatients"],
    "L2 tail": ["elective_waiting_list", "urgent_conversions", "awaiting_a_bed", "admissions",
                "emergency_inpatients", "occupied_beds", "free_beds", "elective_admissions"],
    "L3 outlier congestion": ["occupancy", "los_multiplier", "completions", "emergency_inpatients", "occupied_beds"],
    "L4 premature discharge": ["occupancy", "readmissions", "awaiting_a_bed", "admissions", "emergency_inpatients",
                               "occupied_beds"],
    "L5 downstream blockage": ["acute_dtoc", "mean_delay", "care_need_shift", "care_home_share",
                               "care_home_transfers", "care_home_residents", "free_care_home_places"],
    "L6 spot purchase": ["acute_dtoc", "spot_purchases", "la_funding_index", "social_care_establishment",
                         "social_care_workers", "home_care_capacity", "free_home_care", "home_care_transfers"],
    "L7 escalation beds": ["occupancy", "escalation_opening", "escalation_beds"],
    "L7 side effect": ["escalation_beds", "nurse_demand", "workload_ratio", "effort", "nurse_fatigue",
                       "nurse_leavers", "nurses", "nurse_supply", "staffing_adequacy", "los_multiplier",
                       "emergency_inpatients", "occupied_beds", "occupancy"],
    "L8 burnout": ["nurses", "nurse_supply", "workload_ratio", "effort", "fatigue_build_up", "nurse_fatigue",
                   "nurse_leavers"],
    "L8 sickness": ["nurse_fatigue", "sickness", "nurse_supply", "workload_ratio", "effort", "fatigue_build_up"],
    "L9 recruitment": ["nurses", "nurse_vacancy_rate", "nurse_recruitment"],
    "L10 work harder": ["occupied_beds", "nurse_demand", "workload_ratio", "effort", "staffing_adequacy",
                        "staffing_los_effect", "los_multiplier", "completions", "emergency_inpatients"],
    "L11 capability trap": ["perceived_pressure", "improvement_time_now", "capability_investment",
                            "improvement_capability", "capability_los_effect", "los_multiplier", "completions",
                            "emergency_inpatients", "occupied_beds", "occupancy", "pressure_gap"],
    "L12 savings spiral": ["financial_position", "savings_rate_now", "savings_cuts", "savings_index", "beds",
                           "occupancy", "escalation_opening", "escalation_beds", "nhs_spending", "nhs_costs"],
    "L13 trust-collaboration": ["trust", "placement_time_home_care", "home_care_transfers", "acute_dtoc",
                                "joint_success", "trust_building"],
    "L13 knowledge": ["collaboration", "knowledge_gain", "shared_knowledge"],
    "L14 blame": ["acute_dtoc", "blame", "trust_erosion", "trust", "placement_time_home_care",
                  "home_care_transfers"],
    "L15 breaches and pressure": ["occupancy", "ed_time", "four_hour_performance", "pressure_gap",
                                  "perceived_pressure", "improvement_time_now", "improvement_capability",
                                  "capability_los_effect", "los_multiplier", "emergency_inpatients",
                                  "occupied_beds"],
    "L16 policy churn": ["improvement_capability", "no_results", "abandoned", "restructuring",
                         "capability_restructuring_loss"],
}

def build() -> Model:
    m = Model("whole system flow", time_units="day", final_time=5475, dt=1, doc=__doc__ or "")
    c = m.constant

    # -- scale and calendar ------------------------------------------------------------------
    c("population", 1_000_000, units="person", doc="Population of the system (lever). England: 55,980,000.")
    c("reference population", 1_000_000, units="person", doc="Population the per-1 m defaults refer to.")
    c("days per year", 365, units="day/year", doc="Calendar conversion.")
    m.aux("scale", "population / reference_population", units="dimensionless", doc="Population relative to 1 m.")
    c("initial awaiting", 10, units="person", doc="Initial value per 1 m. Domain C2 (assumed — calibrate).")
    c("initial emergency inpatients", 1270, units="person", doc="Initial value per 1 m. Domain C3 (derived).")
    c("initial waiting list", 80000, units="person", doc="Initial value per 1 m. Domain C6: 4.5 m / 56.")
    c("initial elective inpatients", 300, units="person", doc="Initial value per 1 m. Domain C4 (assumed — calibrate).")
    c("initial DToC", 53, units="person", doc="Initial value per 1 m. Domain C5: 2,973 / 55.98.")
    c("initial IC clients", 500, units="person", doc="Initial value per 1 m. Domain C7 (assumed — calibrate).")
    c("initial home care clients", 10000, units="person", doc="Initial value per 1 m. Domain C9 (assumed — calibrate).")
    c("initial care home residents", 7300, units="person", doc="Initial value per 1 m. Domain C10: 8,150 x 0.9.")
    c("initial social care workers", 28000, units="FTE", doc="Initial value per 1 m. Domain W4: ≈1.57 m jobs / 56 as FTE (assumed).")
    m.aux("years", "time / days_per_year", units="year", doc="Years since the start.")

    # -- demand ------------------------------------------------------------------------------
    c("share under 65", 0.82, units="dimensionless", doc="82% of England under 65 (ONS 2018).")
    c("share 65 to 84", 0.156, units="dimensionless", doc="Split of the 18% aged 65+: assumed — calibrate.")
    c("share 85 plus", 0.024, units="dimensionless", doc="≈2.4%: assumed — calibrate (UK 2.5% in 2020, ONS).")
    c("births and migration rate", 0.0169, units="1/year",
      doc="Births and net migration per person under 65 per year. Assumed — calibrate (holds the band).")
    c("mortality under 65", 0.0015, units="1/year", doc="Assumed — calibrate (ONS band rates).")
    c("mortality 65 to 84", 0.025, units="1/year", doc="Assumed — calibrate (ONS band rates).")
    c("mortality 85 plus", 0.29, units="1/year", doc="Assumed — calibrate; the 85+ band grows ≈3%/yr.")
    c("years under 65", 65, units="year", doc="Residence in the band (domain §4.2).")
    c("years 65 to 84", 20, units="year", doc="Residence in the band (domain §4.2).")
    c("a1", 0.235, units="1/year", doc="ED attendances per person under 65 per year. Assumed — calibrate.")
    c("a2", 0.40, units="1/year", doc="ED attendances per person 65–84 per year. Assumed — calibrate.")
    c("a3", 1.00, units="1/year", doc="ED attendances per person 85+ per year. Assumed — calibrate.")
    c("onset under 65", 0.005, units="1/year", doc="Care need onset per person per year. Assumed — calibrate.")
    c("onset 65 to 84", 0.1, units="1/year", doc="Care need onset per person per year. Assumed — calibrate.")
    c("onset 85 plus", 0.75, units="1/year", doc="Care need onset per person per year. Assumed — calibrate "
      "(≈37,700 a year per 1 m; 1.84 m requests a year in England = 33,000 per 1 m).")
    c("initial unmet need", 5000, units="person", doc="Domain D4 per 1 m. Assumed — calibrate.")
    c("crisis time", 180, units="day", doc="Mean time before unmet need becomes a crisis (domain τ_crisis).")
    c("assessment time", 60, units="day", doc="Time to assess and resolve a need. Assumed — calibrate.")
    c("home care need share", 0.02, units="dimensionless", doc="Share of needs met by home care. Assumed.")
    c("care home need share", 0.095, units="dimensionless", doc="Share of needs met by a care home. Assumed.")
    c("IC need share", 0.2, units="dimensionless", doc="Share of needs met by step-up IC / reablement. Assumed.")
    c("k unmet", 0.05, units="dimensionless", doc="ED demand rise per unit relative unmet need. Assumed — calibrate.")
    c("re attendance fraction", 0.086, units="dimensionless", doc="Re-attend within 7 days (NHS Digital 2017/18).")
    c("gp elasticity", 0.5, units="dimensionless", doc="ED demand rise per unit GP shortfall (Brailsford 2004). Assumed.")
    m.lookup("seasonal index", _SEASONAL, units="dimensionless", doc="Type-1 seasonal index by day of year (domain §4.2).")

    m.stock("Population under 65", initial="population * share_under_65", inflows=["births and migration"],
            outflows=["ageing under 65", "deaths under 65"], units="person", non_negative=True, doc="Domain D1.")
    m.stock("Population 65 to 84", initial="population * share_65_to_84", inflows=["ageing under 65"],
            outflows=["ageing 65 to 84", "deaths 65 to 84"], units="person", non_negative=True, doc="Domain D2.")
    m.stock("Population 85 plus", initial="population * share_85_plus", inflows=["ageing 65 to 84"],
            outflows=["deaths 85 plus"], units="person", non_negative=True, doc="Domain D3.")
    m.flow("births and migration", "population_under_65 * births_and_migration_rate / days_per_year", units="person/day",
           doc="Births and net migration.")
    m.flow("ageing under 65", "population_under_65 / (years_under_65 * days_per_year)", units="person/day", doc="Ageing.")
    m.flow("ageing 65 to 84", "population_65_to_84 / (years_65_to_84 * days_per_year)", units="person/day", doc="Ageing.")
    m.flow("deaths under 65", "population_under_65 * mortality_under_65 / days_per_year", units="person/day", doc="Deaths.")
    m.flow("deaths 65 to 84", "population_65_to_84 * mortality_65_to_84 / days_per_year", units="person/day", doc="Deaths.")
    m.flow("deaths 85 plus", "population_85_plus * mortality_85_plus / days_per_year", units="person/day", doc="Deaths.")
    m.aux("total population", "population_under_65 + population_65_to_84 + population_85_plus", units="person",
          doc="Everyone.")

    m.stock("Unmet need", initial="initial_unmet_need * scale", inflows=["need onset"],
            outflows=["crises", "community home care starts", "community care home entries", "step up IC",
                      "needs resolved"],
            units="person", non_negative=True, doc="People with unmet or unmanaged care need (domain D4).")
    m.flow("need onset", "(onset_under_65 * population_under_65 + onset_65_to_84 * population_65_to_84 "
           "+ onset_85_plus * population_85_plus) / days_per_year", units="person/day", doc="New care needs.")
    m.flow("crises", "unmet_need / crisis_time", units="person/day", doc="Unmet need becoming a crisis (to ED).")
    m.flow("community home care starts", "min(unmet_need * home_care_need_share / assessment_time, "
           "free_home_care / placement_time_home_care)", units="person/day", doc="Home care from the community.")
    m.flow("community care home entries", "min(unmet_need * care_home_need_share / assessment_time, "
           "free_care_home_places / placement_time_care_home)", units="person/day", doc="Care home entries from home.")
    m.flow("step up IC", "min(unmet_need * ic_need_share / assessment_time, free_ic / placement_time_ic)",
           units="person/day", doc="Step-up intermediate care and reablement from the community.")
    m.flow("needs resolved", "unmet_need * (1 - home_care_need_share - care_home_need_share - ic_need_share) "
           "/ assessment_time",
           units="person/day", doc="Needs met by other means (reablement at home, family, signposting).")

    c("base GPs", 489, units="FTE", doc="27,381 FTE GPs (March 2019, NHS Digital) / 56.")
    m.aux("gp access effect", "1 + gp_elasticity * (1 - gps / (base_gps * scale))", units="dimensionless",
          doc="ED demand rises when GP capacity per head falls (Brailsford et al. 2004).")
    m.aux("value demand", "(a1 * population_under_65 + a2 * population_65_to_84 + a3 * population_85_plus) "
          "/ days_per_year * seasonal_index(modulo(time, days_per_year * one_year)) * gp_access_effect "
          "* (1 + k_unmet * (unmet_need / (initial_unmet_need * scale) - 1))", units="person/day",
          doc="Type-1 attendances from need (domain §4.2).")
    c("one year", 1, units="year", doc="A year.")
    m.aux("re attendances", "delay1i(ed_attendances * (1 - conversion) * re_attendance_fraction, 7, "
          "(value_demand + crises) * (1 - conversion) * re_attendance_fraction "
          "/ (1 - (1 - conversion) * re_attendance_fraction))",
          units="person/day", doc="Failure demand: re-attendances within 7 days.")
    m.aux("ED attendances", "value_demand + crises + re_attendances", units="person/day",
          doc="Type-1 ED attendances per day.")

    # -- capacity and flow --------------------------------------------------------------------
    c("base ED time", 0.0708, units="day", doc="Mean time in ED uncrowded (≈1.7 h). Assumed — calibrate.")
    c("four hours", 4 / 24, units="day", doc="The 4-hour standard.")
    c("conversion", 0.30, units="dimensionless", doc="Type-1 conversion 0.299 in 2018/19 (derived, NHS England).")
    c("direct admissions multiplier", 0.35, units="dimensionless", doc="Derived: 0.26 / 0.74 (domain §4.2).")
    c("overnight fraction", 0.55, units="dimensionless",
      doc="Share of emergency admissions staying overnight. Assumed — calibrate (0.55–0.70; Little's-law reconciliation).")
    c("admit time", 1, units="day", doc="Minimum time to admit to a free bed: one time step. Assumed — calibrate.")
    c("active LoS", 6.0, units="day", doc="Emergency stay excluding delay (domain §4.2 Little's-law reconciliation; range 6–9).")
    c("elective LoS", 5.2, units="day", doc="Health Foundation 2019.")
    c("planned electives", 57.7, units="person/day", doc="300 elective beds / 5.2 d per 1 m. Assumed — calibrate.")
    c("urgent conversion rate", 0.01, units="1/year", doc="Waiting-list patients becoming emergencies (L2 tail). Assumed.")
    c("complex share", 0.15, units="dimensionless", doc="Complex discharges (domain §4.3).")
    c("death share", 0.035, units="dimensionless", doc="In-hospital deaths (domain §4.3).")
    c("readmission fraction", 0.08, units="dimensionless", doc="Domain §4.3 (assumed — calibrate).")
    c("readmission delay", 30, units="day", doc="Mean time to readmission. Assumed.")
    c("p1", 0.45, units="dimensionless", doc="Complex discharges to home care (domain §4.2).")
    c("p2", 0.04, units="dimensionless", doc="Complex discharges to intermediate care (domain §4.2).")
    c("p3", 0.01, units="dimensionless", doc="Complex discharges to a care home (domain §4.2).")
    c("min transfer time", 1.35, units="day", doc="Domain §4.3 range 0.5–2; assumed — calibrate on the 2018/19 DToC level.")
    c("base placement time home care", 7, units="day", doc="Domain §4.2 (assumed — calibrate).")
    c("base placement time IC", 3, units="day", doc="Assumed — calibrate.")
    c("base placement time care home", 14, units="day", doc="Assumed — calibrate.")
    c("deconditioning", 0.05, units="1/day", doc="Rise in care needs per day of delay beyond normal (L5). Assumed.")
    c("normal delay", 2, units="day", doc="Mean DToC delay at baseline. Assumed.")
    c("IC LoS", 28, units="day", doc="Domain §4.3.")
    c("home care duration", 480, units="day",
      doc="Domain §4.3 range 365–1,095 (Symmetric: 730); assumed — calibrate: balances the inflows at 10,000 clients.")
    c("care home residence", 913, units="day", doc="Domain §4.3 (2.5 years).")
    c("base beds", 1800, units="bed", doc="≈101,000 G&A beds (KH03) / 56.")
    c("base IC places", 600, units="place", doc="Domain C14 (assumed — calibrate).")
    c("base care home places", 8150, units="place", doc="456,000 places (King's Fund) / 56.")
    c("bed change", 0, units="dimensionless", doc="Fractional change in G&A beds (lever, ±0.2).")
    c("IC change", 0, units="dimensionless", doc="Fractional change in intermediate care places (lever, ±0.2).")
    c("care home change", 0, units="dimensionless", doc="Fractional change in care home places (lever, ±0.2).")
    c("escalation trigger", 0.92, units="dimensionless", doc="Domain §4.3.")
    c("escalation open time", 3, units="day", doc="Domain §4.3.")
    c("escalation close time", 30, units="day", doc="Domain §4.3.")
    c("escalation on", 1, units="dimensionless", doc="Coping switch (L7).")
    c("early discharge on", 1, units="dimensionless", doc="Coping switch (L4).")
    c("spot purchase on", 1, units="dimensionless", doc="Coping switch (L6).")
    c("spot purchase time", 7, units="day", doc="Time to spot-purchase care. Assumed.")
    c("spot cost", 2000, units="GBP/person", doc="Premium cost of a spot purchase. Assumed — calibrate.")
    c("home care per FTE", 0.95, units="person/FTE", doc="Home care clients per home care worker FTE. Assumed — calibrate.")
    c("home care workforce share", 0.4, units="dimensionless", doc="Share of social care FTE in home care. Assumed.")
    m.lookup("f crowd", [(0.80, 1.0), (0.85, 1.0), (0.92, 1.3), (0.96, 2.0), (1.00, 3.0)], units="dimensionless",
             doc="ED time multiplier against occupancy (domain §4.4).")
    m.lookup("f premature", [(0.85, 1.0), (0.92, 1.2), (0.96, 1.6), (1.00, 2.0)], units="dimensionless",
             doc="Readmission multiplier against occupancy (domain §4.4).")
    m.lookup("f outlier", [(0.85, 1.0), (0.92, 1.05), (0.96, 1.15), (1.00, 1.3)], units="dimensionless",
             doc="LoS multiplier from outlying against occupancy (domain §4.4).")
    m.lookup("early discharge cut", [(0.85, 0.0), (0.92, 0.03), (0.96, 0.06), (1.00, 0.10)], units="dimensionless",
             doc="Share of stay cut by early discharge against occupancy. Assumed.")
    m.lookup("f trust", [(0, 2.0), (0.5, 1.0), (1, 0.7)], units="dimensionless",
             doc="Placement-time multiplier against trust (domain §4.4).")
    m.lookup("f workforce", [(0, 0.8), (0.08, 1.0), (0.15, 1.6), (0.25, 3.0)], units="dimensionless",
             doc="Placement-time multiplier against the social care vacancy rate (domain §4.4).")

    m.aux("ED time", "base_ed_time * f_crowd(occupancy)", units="day", doc="Mean time in ED; exit block when wards are full.")
    m.aux("patients in ED", "ed_attendances * ed_time", units="person", doc="Domain C1, by Little's law.")
    m.aux("four hour performance", "1 - exp(-four_hours / ed_time)", units="dimensionless",
          doc="Share of departures within 4 hours (exponential time in ED).")
    m.aux("emergency bed demand", "overnight_fraction * conversion * ed_attendances * (1 + direct_admissions_multiplier)",
          units="person/day", doc="Overnight emergency admissions via A&E and direct.")
    m.stock("Awaiting a bed", initial="initial_awaiting * scale", inflows=["bed requests", "readmissions", "urgent conversions"],
            outflows=["admissions"], units="person", non_negative=True, doc="Domain C2.")
    m.flow("bed requests", "emergency_bed_demand", units="person/day", doc="Decisions to admit overnight.")
    m.aux("beds", "base_beds * scale * (1 + bed_change) * savings_index", units="bed", doc="Core G&A beds (C11).")
    m.aux("occupied beds", "emergency_inpatients + elective_inpatients + acute_dtoc", units="bed", doc="Occupied G&A beds.")
    m.aux("occupancy", "occupied_beds / (beds + escalation_beds)", units="dimensionless", doc="G&A occupancy.")
    m.aux("beds freed", "completions * (1 - complex_share) + simple_transfers + home_care_transfers + ic_transfers "
          "+ care_home_transfers + spot_purchases + elective_discharges", units="bed/day",
          doc="Beds vacated per day by discharges, deaths and transfers.")
    m.aux("free beds", "max(0, beds + escalation_beds - occupied_beds + beds_freed * admit_time)", units="bed",
          doc="Beds empty now or vacated within the admission window (one time step).")
    m.flow("admissions", "min(awaiting_a_bed, free_beds) / admit_time", units="person/day", doc="Emergency admissions (L1).")
    m.stock("Emergency inpatients", initial="initial_emergency_inpatients * scale", inflows=["admissions"],
            outflows=["completions"], units="person",
            doc="Domain C3. Its outflow (stock / LoS, LoS >> dt) cannot empty it, so no outflow limit is needed; "
                "one would read the admissions and close an algebraic loop through the beds freed.")
    m.aux("LoS multiplier", "f_outlier(occupancy) * capability_los_effect * staffing_los_effect "
          "* (1 - early_discharge_on * early_discharge_cut(occupancy))", units="dimensionless",
          doc="Outlying (L3), capability (L11), staffing (L10) and early discharge (L4).")
    m.flow("completions", "emergency_inpatients / (active_los * los_multiplier)", units="person/day",
           doc="Completion of the active phase.")
    m.aux("discharges home", "completions * (1 - complex_share - death_share)", units="person/day",
          doc="Simple discharges.")
    m.flow("readmissions", "delay1(discharges_home * readmission_fraction * capability_failure_effect "
           "* (1 + early_discharge_on * (f_premature(occupancy) - 1)), readmission_delay)", units="person/day",
           doc="Failure demand: readmissions (L4).")
    m.stock("Elective waiting list", initial="initial_waiting_list * scale", inflows=["referrals to treatment"],
            outflows=["elective admissions", "urgent conversions"], units="person", non_negative=True,
            doc="Domain C6: 4.5 m (Oct 2019) / 56.")
    m.flow("referrals to treatment", "planned_electives * scale + initial(urgent_conversions)", units="person/day",
           doc="Additions to the waiting list.")
    m.flow("urgent conversions", "elective_waiting_list * urgent_conversion_rate / days_per_year", units="person/day",
           doc="Waiting patients who become emergencies (L2 tail).")
    m.aux("planned elective admissions", "planned_electives * scale", units="person/day", doc="Electives planned.")
    m.flow("elective admissions", "min(planned_elective_admissions, max(0, free_beds - awaiting_a_bed) / admit_time)",
           units="person/day", doc="Electives admitted after emergencies are placed (L2).")
    m.aux("elective cancellations", "planned_elective_admissions - elective_admissions", units="person/day",
          doc="Cancellations (Lane et al. 2000).")
    m.stock("Elective inpatients", initial="initial_elective_inpatients * scale", inflows=["elective admissions"],
            outflows=["elective discharges"], units="person", doc="Domain C4 (no outflow limit, as for C3).")
    m.flow("elective discharges", "elective_inpatients / elective_los", units="person/day", doc="Elective discharges.")

    m.stock("Acute DToC", initial="initial_dtoc * scale", inflows=["becoming fit"],
            outflows=["simple transfers", "home care transfers", "IC transfers", "care home transfers", "spot purchases"],
            units="person", non_negative=True, doc="Domain C5: 2,973 delayed a day (FY2018/19) / 55.98.")
    m.flow("becoming fit", "completions * complex_share", units="person/day", doc="Complex discharges.")
    m.aux("mean delay", "acute_dtoc / max(becoming_fit, 0.001 * scale * one_per_day)", units="day",
          doc="Mean DToC delay (Little's law).")
    c("one per day", 1, units="person/day", doc="Unit rate, a floor for the mean-delay division.")
    m.aux("care need shift", "1 + deconditioning * max(0, mean_delay - normal_delay)", units="dimensionless",
          doc="Deconditioning while delayed raises care needs (L5).")
    m.aux("home care share", "p1 * care_need_shift", units="dimensionless", doc="Share to home care.")
    m.aux("care home share", "p3 * care_need_shift", units="dimensionless", doc="Share to a care home.")
    m.aux("placement time home care", "base_placement_time_home_care * f_trust(trust) * f_workforce(sc_vacancy_rate) "
          "/ sqrt(collaboration)", units="day", doc="Domain §4.2: 7 d x f_trust x f_workforce, joint planning.")
    m.aux("placement time IC", "base_placement_time_ic * f_trust(trust) / sqrt(collaboration)", units="day",
          doc="Time to place in intermediate care.")
    m.aux("placement time care home", "base_placement_time_care_home * f_trust(trust) / sqrt(collaboration)",
          units="day", doc="Time to place in a care home.")
    m.flow("simple transfers", "acute_dtoc * max(0, 1 - home_care_share - p2 - care_home_share) / min_transfer_time",
           units="person/day", doc="Complex discharges home without support.")
    m.flow("home care transfers", "min(acute_dtoc * home_care_share / min_transfer_time, "
           "free_home_care / placement_time_home_care)", units="person/day", doc="To home care.")
    m.flow("IC transfers", "min(acute_dtoc * p2 / min_transfer_time, free_ic / placement_time_ic)",
           units="person/day", doc="To intermediate care.")
    m.flow("care home transfers", "min(acute_dtoc * care_home_share / min_transfer_time, "
           "free_care_home_places / placement_time_care_home)", units="person/day", doc="To a care home.")
    m.flow("spot purchases", "spot_purchase_on * max(0, acute_dtoc - dtoc_target) / spot_purchase_time",
           units="person/day", doc="Premium spot-purchased care for delays above target (L6).")
    m.aux("dtoc target", "53 * scale * one_person", units="person", doc="Delays at the 2018/19 level.")
    c("one person", 1, units="person", doc="Unit count.")

    m.aux("IC capacity", "base_ic_places * scale * (1 + ic_change) * la_funding_index", units="place",
          doc="Intermediate care places (C14).")
    m.aux("free IC", "max(0, ic_capacity - intermediate_care_clients)", units="place", doc="Free IC places.")
    m.stock("Intermediate care clients", initial="initial_ic_clients * scale", inflows=["IC transfers", "step up IC"],
            outflows=["IC home", "IC to home care", "IC to care home"], units="person", non_negative=True,
            doc="Intermediate care and reablement, step-down from hospital and step-up from the community "
                "(domain C7).")
    m.flow("IC home", "intermediate_care_clients * 0.6 / ic_los", units="person/day", doc="60% home (assumed).")
    m.flow("IC to home care", "intermediate_care_clients * 0.3 / ic_los", units="person/day", doc="30% (assumed).")
    m.flow("IC to care home", "intermediate_care_clients * 0.1 / ic_los", units="person/day", doc="10% (assumed).")
    m.aux("home care capacity", "social_care_workers * home_care_workforce_share * home_care_per_fte", units="place",
          doc="Home care capacity from the workforce.")
    m.aux("free home care", "max(0, home_care_capacity - home_care_clients)", units="place", doc="Free home care.")
    m.stock("Home care clients", initial="initial_home_care_clients * scale", inflows=["home care transfers", "IC to home care",
            "community home care starts"], outflows=["home care ends"], units="person", non_negative=True,
            doc="Domain C9.")
    m.flow("home care ends", "home_care_clients / home_care_duration", units="person/day", doc="Packages ending.")
    m.aux("care home places", "base_care_home_places * scale * (1 + care_home_change)", units="place",
          doc="Domain C13.")
    m.aux("free care home places", "max(0, care_home_places - care_home_residents)", units="place", doc="Free places.")
    m.stock("Care home residents", initial="initial_care_home_residents * scale", inflows=["care home transfers", "IC to care home",
            "community care home entries"], outflows=["care home exits"], units="person", non_negative=True,
            doc="Domain C10.")
    m.flow("care home exits", "care_home_residents / care_home_residence", units="person/day", doc="Deaths and moves.")

    m.stock("Escalation beds", initial=0, inflows=["escalation opening"], outflows=["escalation closing"],
            units="bed", non_negative=True, doc="Domain C12.")
    m.flow("escalation opening", "escalation_on * max(0, occupancy - escalation_trigger) * beds / escalation_open_time",
           units="bed/day", doc="Escalation beds opened under pressure (L7).")
    m.flow("escalation closing", "escalation_beds / escalation_close_time", units="bed/day", doc="Slow closing.")

    # -- workforce ------------------------------------------------------------------------------
    c("training places", 360, units="FTE/year", doc="Nurse starters per 1 m per year (lever; assumed — calibrate).")
    c("training increase", 0, units="FTE/year", doc="Extra starters per 1 m per year from ``training start`` (lever).")
    c("training start", 365, units="day", doc="Start of the extra training places (lever).")
    c("student attrition", 0.25, units="dimensionless", doc="Domain §4.3.")
    c("course length", 1095, units="day", doc="3-year degree.")
    c("leave rate", 0.107, units="1/year", doc="Nurse leaver rate 2017/18 (Health Foundation).")
    c("retention gain", 0, units="dimensionless", doc="Fractional cut in the leave rate (lever; 0 to 0.3).")
    c("international recruits", 60, units="FTE/year", doc="Per 1 m per year (lever; domain §4.6, assumed).")
    c("returners and other joiners", 210, units="FTE/year",
      doc="Derived: 540 leavers - 270 graduates - 60 international recruits a year per 1 m, so that joiners "
          "equal leavers at baseline (domain §4.2 nurse equilibrium note).")
    c("recruitment response", 600, units="FTE/year", doc="Extra recruits per unit vacancy rate above normal. Assumed.")
    c("normal nurse vacancy rate", 0.12, units="dimensionless", doc="≈12% in Q1 2019/20 (Health Foundation).")
    c("nurses per occupied bed", 1.6, units="FTE/bed", doc="Domain §4.3 (assumed — calibrate).")
    c("acute share", 0.55, units="dimensionless", doc="Share of nurses on G&A wards. Assumed — calibrate (≈60%).")
    c("base sickness", 0.045, units="dimensionless", doc="Domain §4.3.")
    c("fatigue time", 56, units="day", doc="Domain §4.3.")
    c("recovery time", 84, units="day", doc="Domain §4.3.")
    c("fatigue threshold", 0.85, units="dimensionless",
      doc="Effort below which fatigue does not build. Derived: baseline fatigue ≈0.3 is near equilibrium.")
    c("work hour limit", 1.15, units="dimensionless", doc="Cap on effort (+15%, domain §4.3; lever).")
    c("staff LoS sensitivity", 0.5, units="dimensionless", doc="LoS rise per unit staffing shortfall. Assumed.")
    c("base nurses", 5050, units="FTE", doc="282,661 FTE (July 2018) / 56.")
    c("base nurse establishment", 5740, units="FTE", doc="5,050 in post + 12% vacancies.")
    c("social care turnover", 0.30, units="1/year", doc="Skills for Care (29–31%).")
    c("hire time", 90, units="day", doc="Domain τ_hire (assumed).")
    c("base social care establishment", 30100, units="FTE", doc="28,000 FTE + ≈7% vacancies (Skills for Care).")
    c("social care pay index", 1, units="dimensionless", doc="Relative pay (lever, 0.9–1.2).")
    c("gp training places", 26.7, units="FTE/year", doc="80 trainees / 3 years per 1 m. Assumed — calibrate.")
    c("gp leave rate", 0.08, units="1/year", doc="Domain §4.3 (assumed — calibrate).")
    c("gp other joiners", 12.4, units="FTE/year", doc="Derived: balances GP joiners and leavers at baseline.")
    m.lookup("f fatigue", [(0, 0.8), (0.3, 1.0), (0.6, 1.5), (1, 2.5)], units="dimensionless",
             doc="Leaver multiplier against fatigue (domain §4.4).")
    m.lookup("f pay", [(0.8, 1.4), (1.0, 1.0), (1.2, 0.8)], units="dimensionless",
             doc="Leaver multiplier against relative pay (domain §4.4).")

    m.stock("Student nurses", initial="training_places * scale / days_per_year * course_length",
            inflows=["nurse starters"], outflows=["graduation", "student drop outs"], units="FTE", doc="Domain W1.")
    m.flow("nurse starters", "(training_places + step(training_increase, training_start)) * scale / days_per_year",
           units="FTE/day", doc="Students starting (lever).")
    m.flow("graduation", "student_nurses / course_length * (1 - student_attrition)", units="FTE/day", doc="Domain §4.2.")
    m.flow("student drop outs", "student_nurses / course_length * student_attrition", units="FTE/day", doc="Attrition.")
    m.stock("Nurses", initial="base_nurses * scale", inflows=["graduation", "nurse recruitment"],
            outflows=["nurse leavers", "nurse post cuts"], units="FTE", non_negative=True, doc="Domain W2.")
    m.aux("nurse establishment", "base_nurse_establishment * scale * nurse_demand / initial(nurse_demand)",
          units="FTE", doc="Funded posts, following demand for nurses.")
    m.aux("nurse vacancy rate", "max(0, nurse_establishment - nurses) / nurse_establishment", units="dimensionless",
          doc="Vacancies / establishment.")
    m.flow("nurse recruitment", "(international_recruits + returners_and_other_joiners + recruitment_response "
           "* max(0, smooth(nurse_vacancy_rate, 180) - normal_nurse_vacancy_rate)) * scale / days_per_year",
           units="FTE/day", doc="International recruits (responding to vacancies, L9), returners and other joiners.")
    m.flow("nurse leavers", "nurses * (leave_rate * (1 - retention_gain) * f_fatigue(nurse_fatigue) "
           "* f_pay(1 + 0 * social_care_pay_index)) / days_per_year", units="FTE/day", doc="Leavers (L8).")
    m.flow("nurse post cuts", "nurses * savings_rate_now / days_per_year", units="FTE/day",
           doc="Posts removed by the savings programme.")
    m.aux("sickness", "base_sickness * (1 + 0.5 * nurse_fatigue)", units="dimensionless", doc="Domain §4.2.")
    m.aux("nurse demand", "(occupied_beds + escalation_beds) * nurses_per_occupied_bed", units="FTE",
          doc="Nurses needed on G&A wards (domain §4.2).")
    m.aux("nurse supply", "nurses * acute_share * (1 - sickness) * (1 - improvement_time_now)", units="FTE",
          doc="Ward nurses available for direct care.")
    m.aux("workload ratio", "nurse_demand / nurse_supply", units="dimensionless", doc="Demand / supply.")
    m.aux("effort", "min(workload_ratio, work_hour_limit)", units="dimensionless", doc="Working harder (L10).")
    m.aux("staffing adequacy", "min(1, nurse_supply * effort / nurse_demand)", units="dimensionless",
          doc="Share of nursing need met by staff.")
    m.aux("staffing LoS effect", "1 + staff_los_sensitivity * (1 - staffing_adequacy)", units="dimensionless",
          doc="Short staffing lengthens stays.")
    m.aux("agency nurses", "max(0, nurse_demand - nurse_supply * effort)", units="FTE", doc="Agency cover (L7).")
    m.stock("Nurse fatigue", initial=0.3, inflows=["fatigue build up"], outflows=["fatigue recovery"],
            units="dimensionless", non_negative=True, doc="Domain W3.")
    m.flow("fatigue build up", "max(0, effort - fatigue_threshold) / fatigue_time", units="1/day", doc="Domain §4.2.")
    m.flow("fatigue recovery", "nurse_fatigue / recovery_time", units="1/day", doc="Domain §4.2.")
    m.aux("nurse leaver rate", "nurse_leavers * days_per_year / nurses", units="1/year", doc="Leavers per nurse per year.")

    m.stock("Social care workers", initial="initial_social_care_workers * scale", inflows=["social care hires"],
            outflows=["social care leavers"], units="FTE", non_negative=True, doc="Domain W4.")
    m.aux("social care establishment", "base_social_care_establishment * scale * la_funding_index", units="FTE",
          doc="Funded social care posts.")
    m.aux("sc vacancy rate", "max(0, social_care_establishment - social_care_workers) / social_care_establishment",
          units="dimensionless", doc="Social care vacancy rate (7.8% in 2018/19).")
    m.flow("social care hires", "max(0, social_care_establishment - social_care_workers) / hire_time", units="FTE/day",
           doc="Hires (domain §4.2).")
    m.flow("social care leavers", "social_care_workers * social_care_turnover * f_pay(social_care_pay_index) "
           "/ days_per_year", units="FTE/day", doc="Leavers (29–31%, Skills for Care).")
    m.stock("GP trainees", initial="gp_training_places * scale / days_per_year * course_length",
            inflows=["gp training starts"], outflows=["gp completions"], units="FTE", doc="Domain W6.")
    m.flow("gp training starts", "gp_training_places * scale / days_per_year", units="FTE/day", doc="Starters.")
    m.flow("gp completions", "gp_trainees / course_length", units="FTE/day", doc="3-year GP training.")
    m.stock("GPs", initial="base_gps * scale", inflows=["gp completions", "gp joiners"], outflows=["gp leavers"],
            units="FTE", non_negative=True, doc="Domain W5.")
    m.flow("gp joiners", "gp_other_joiners * scale / days_per_year", units="FTE/day", doc="Returners, international.")
    m.flow("gp leavers", "gps * gp_leave_rate / days_per_year", units="FTE/day", doc="Domain §4.2.")

    # -- trust and capability ---------------------------------------------------------------------
    c("trust build time", 730, units="day", doc="Domain §4.3 (assumed).")
    c("trust erode time", 90, units="day", doc="Domain §4.3 (assumed; Slovic 1993).")
    c("base positive", 0.811, units="dimensionless",
      doc="Positive experience at baseline. Derived: holds trust at 0.5 against the base negative events.")
    c("base negative", 0.1, units="dimensionless", doc="Negative events at baseline. Assumed — calibrate.")
    c("blame weight", 1, units="dimensionless", doc="Assumed — calibrate.")
    c("target pressure", 1, units="dimensionless", doc="Weight of 4-hour and DToC targets (lever, 0–2).")
    c("system accountability", 0.2, units="dimensionless", doc="Accountability held at system level (lever, 0–1).")
    c("fine per delayed day", 0, units="GBP/person/day", doc="Charged to the LA per delayed day (lever; ≈£100 in 2003).")
    c("fine reference", 100, units="GBP/person/day", doc="A fine that counts as one unit of blame.")
    c("learning time", 365, units="day", doc="Domain τ_learn.")
    c("leadership turnover", 0.25, units="1/year", doc="Domain §4.3 (assumed).")
    c("normal sharing", 0.1667, units="dimensionless", doc="Derived: holds shared knowledge at 0.4.")
    c("first reorganisation", 1e6, units="day", doc="Date of the first reorganisation (lever; none by default).")
    c("reorganisation interval", 0, units="day", doc="Days between reorganisations (lever; 0 = one only).")
    c("reorganisation loss", 0.3, units="dimensionless", doc="Share of shared knowledge lost. Assumed.")
    c("pooled budget share", 0.03, units="dimensionless", doc="Share of NHS budget pooled (lever; domain 3%).")
    c("pooled incentive effect", 5, units="dimensionless", doc="Rise in incentive alignment per unit pooled share.")
    c("improvement time", 0.05, units="dimensionless", doc="Share of nurse time on improvement (lever; domain §4.3).")
    c("tests of change", 1, units="dimensionless", doc="Tests of change per team per month (lever, 0–4).")
    c("improvement effectiveness", 0.01096, units="1/day", doc="Derived: holds capability at 0.4.")
    c("improvement delay", 270, units="day", doc="Domain §4.3.")
    c("capability erosion time", 730, units="day", doc="Domain §4.3.")
    c("capability LoS sensitivity", 0.2, units="dimensionless", doc="LoS change per unit capability gap. Assumed.")
    c("redesign time", 0, units="dimensionless", doc="Extra improvement time in a redesign initiative (lever).")
    c("redesign start", 365, units="day", doc="Start of the redesign (lever).")
    c("evaluation window", 730, units="day", doc="Time before an initiative without results is abandoned (lever).")
    c("results threshold", 0.1, units="dimensionless", doc="Capability gain counted as a result. Assumed.")
    c("restructure loss", 0.25, units="dimensionless", doc="Capability and knowledge lost when abandoned. Assumed.")
    c("pressure time", 30, units="day", doc="Domain §4.3.")
    c("occupancy target", 0.92, units="dimensionless", doc="Occupancy regarded as on target.")
    c("tolerated breaches", 0.185, units="dimensionless", doc="4-hour breaches taken as normal pressure: type-1 level 2018/19 (81.5%).")
    m.lookup("improvement cut", [(0.5, 1.2), (1.0, 1.0), (1.5, 0.5), (2.0, 0.2)], units="dimensionless",
             doc="Pressure diverts time from improvement (domain §4.4).")
    m.lookup("tests effect", [(0, 0.5), (1, 1.0), (4, 1.6)], units="dimensionless",
             doc="Tests of change raise improvement effectiveness (Spear). Assumed.")

    m.stock("Trust", initial=0.5, inflows=["trust building"], outflows=["trust erosion"], units="dimensionless",
            doc="Domain T1.")
    m.aux("joint success", "min(2, dtoc_target / max(acute_dtoc, 0.01 * one_person))", units="dimensionless",
          doc="DToC against target, credited jointly.")
    m.aux("blame", "target_pressure * (1 - system_accountability) / 0.8 * max(0, acute_dtoc / dtoc_target - 1) "
          "+ fine_per_delayed_day / fine_reference", units="dimensionless", doc="Blame, target disputes and fines (L14).")
    m.flow("trust building", "(1 - trust) * base_positive * joint_success / trust_build_time",
           units="1/day", doc="Domain §4.2.")
    m.flow("trust erosion", "trust * (base_negative + blame_weight * blame) / trust_erode_time", units="1/day",
           doc="Domain §4.2.")
    m.stock("Shared knowledge", initial=0.4, inflows=["knowledge gain"],
            outflows=["knowledge loss", "reorganisation losses"], units="dimensionless", doc="Domain T2.")
    m.flow("knowledge gain", "normal_sharing * collaboration * (1 - shared_knowledge) / learning_time", units="1/day",
           doc="Domain §4.2.")
    m.flow("knowledge loss", "shared_knowledge * leadership_turnover / days_per_year", units="1/day", doc="Turnover.")
    m.flow("reorganisation losses", "shared_knowledge * (reorganisation_loss * pulse_train(first_reorganisation, 0, "
           "reorganisation_interval, 1e9) + restructure_loss * restructuring) / dt", units="1/day",
           doc="Step losses at reorganisations and when an initiative is restructured (L16).")
    m.aux("incentive alignment", "1 + pooled_incentive_effect * (pooled_budget_share - 0.03) "
          "+ 0.5 * (system_accountability - 0.2)", units="dimensionless", doc="Aligned incentives (1 at baseline).")
    m.aux("collaboration", "trust * shared_knowledge / 0.2 * incentive_alignment", units="dimensionless",
          doc="Domain: T1^α T2^β x incentives, α = β = 1, normalised to 1 at baseline.")

    m.stock("Improvement capability", initial=0.4, inflows=["capability investment"],
            outflows=["capability erosion", "capability restructuring loss"], units="dimensionless", doc="Domain T3.")
    m.aux("initiative active", "step(1, redesign_start) * (1 - abandoned)", units="dimensionless",
          doc="1 while the redesign runs.")
    m.aux("abandoned", "sample_if_true(abs(time - redesign_start - evaluation_window) < dt / 2, "
          "if_then_else(redesign_time > 0, no_results, 0), 0)", units="dimensionless",
          doc="1 once the initiative was judged without results (L16).")
    m.aux("no results", "if_then_else(improvement_capability - initial(improvement_capability) < results_threshold, 1, 0)",
          units="dimensionless", doc="The capability gain is below the threshold.")
    m.aux("restructuring", "abandoned * pulse(redesign_start + evaluation_window, 0)", units="dimensionless",
          doc="1 for one step when an initiative is abandoned.")
    m.aux("improvement time now", "min(0.5, (improvement_time + redesign_time * initiative_active) "
          "* improvement_cut(perceived_pressure))", units="dimensionless", doc="Time on improvement (L11).")
    m.flow("capability investment", "delay3i(improvement_time_now * improvement_effectiveness "
           "* tests_effect(tests_of_change), improvement_delay, improvement_time * improvement_effectiveness)",
           units="1/day", doc="Domain §4.2.")
    m.flow("capability erosion", "improvement_capability / capability_erosion_time", units="1/day", doc="Domain §4.2.")
    m.flow("capability restructuring loss", "improvement_capability * restructure_loss * restructuring / dt",
           units="1/day", doc="Capability lost when an initiative is abandoned (L16).")
    m.aux("capability LoS effect", "max(0.5, 1 - capability_los_sensitivity * (improvement_capability - 0.4))",
          units="dimensionless", doc="Capability shortens stays (L11).")
    m.aux("capability failure effect", "max(0.5, 1 - 2 * capability_los_sensitivity * (improvement_capability - 0.4))",
          units="dimensionless", doc="Capability cuts readmissions (failure demand).")

    m.stock("Perceived pressure", initial=1, inflows=["pressure change"], units="dimensionless", doc="Domain T4.")
    m.aux("pressure gap", "max(occupancy / occupancy_target, target_pressure * (1 - four_hour_performance) "
          "/ tolerated_breaches, nhs_spending / nhs_funding)",
          units="dimensionless",
          doc="The largest gap, each 1 at the base-period level: occupancy, 4-hour breaches, spending over funding.")
    m.flow("pressure change", "(pressure_gap - perceived_pressure) / pressure_time", units="1/day",
           doc="First-order smoothing over 30 days.")

    # -- money ---------------------------------------------------------------------------------------
    c("bed day cost", 350, units="GBP/bed/day", doc="Cost of a staffed G&A bed-day excluding nursing. Assumed.")
    c("nurse cost", 140, units="GBP/FTE/day", doc="Cost of a nurse FTE-day. Assumed — calibrate.")
    c("agency premium", 2, units="dimensionless", doc="Agency cost relative to staff. Assumed.")
    c("nhs budget growth", 0.015, units="1/year", doc="Real funding growth (lever; domain §4.6 1.5%/yr).")
    c("social care funding growth", 0, units="1/year", doc="Real LA funding growth (lever; flat by default).")
    c("base la budget", 1.2e6, units="GBP/day", doc="LA adult social care budget per 1 m per day. Assumed.")
    c("savings rate", 0, units="1/year", doc="Required cost reduction a year on beds and staff (lever; 2–4%).")
    c("savings start", 365, units="day", doc="Start of the savings programme (lever).")
    c("savings end", 1825, units="day", doc="End of the savings programme (lever).")
    c("deficit response", 0, units="1/year", doc="Savings demanded per unit deficit over a year's budget (L12).")
    m.stock("Savings index", initial=1, outflows=["savings cuts"], units="dimensionless",
            doc="Beds relative to the start after savings.")
    m.aux("savings rate now", "savings_rate * (step(1, savings_start) - step(1, savings_end)) "
          "+ deficit_response * max(0, -financial_position) / (annual_nhs_budget * one_year)", units="1/year",
          doc="The programme plus a response to a deficit (L12).")
    m.flow("savings cuts", "savings_index * savings_rate_now / days_per_year", units="1/day", doc="Bed cuts.")
    m.aux("nhs spending", "(beds + escalation_beds) * bed_day_cost + nurses * nurse_cost "
          "+ agency_nurses * nurse_cost * agency_premium + spot_purchases * spot_cost", units="GBP/day",
          doc="Acute spending.")
    m.aux("pooled transfer", "(pooled_budget_share - 0.03) * initial(nhs_spending)", units="GBP/day",
          doc="NHS money pooled beyond the 3% baseline.")
    m.aux("nhs funding", "initial(nhs_spending) * exp(nhs_budget_growth * years) - pooled_transfer "
          "+ fine_per_delayed_day * acute_dtoc", units="GBP/day", doc="NHS funding, less pooled money, plus fines.")
    m.aux("annual nhs budget", "nhs_funding * days_per_year", units="GBP/year", doc="A year's funding.")
    m.stock("Financial position", initial=0, inflows=["nhs income"], outflows=["nhs costs"], units="GBP",
            doc="Domain T5: cumulative surplus (+) or deficit (-).")
    m.flow("nhs income", "nhs_funding", units="GBP/day", doc="Funding received.")
    m.flow("nhs costs", "nhs_spending", units="GBP/day", doc="Spending.")
    m.aux("la funding index", "max(0.5, (base_la_budget * scale * exp(social_care_funding_growth * years) "
          "+ pooled_transfer * collaboration - fine_per_delayed_day * acute_dtoc - smooth(spot_purchases * spot_cost, 90) "
          "+ initial(spot_purchases * spot_cost)) / (base_la_budget * scale))", units="dimensionless",
          doc="LA funding relative to the start: growth, pooled money (L13), fines paid (L14), spot premiums (L6).")

    # -- outcomes -------------------------------------------------------------------------------------
    m.aux("DToC days per month", "acute_dtoc * days_per_month", units="person*day/month",
          doc="Delayed days in a 30.4-day month.")
    c("days per month", 30.4167, units="day/month", doc="Calendar conversion.")
    m.aux("cost per capita", "nhs_spending * days_per_year / total_population", units="GBP/person/year",
          doc="Acute cost per person per year.")
    return m
