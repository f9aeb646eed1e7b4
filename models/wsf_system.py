"""Whole-system flow, the system: trust and collaboration, improvement capability and the
planning cycle, the source report's national levers, money, and the triple-aim outcomes.

Part of :mod:`models.whole_system_flow`. Every lever is two-sided (a benefit and a cost or a
risk) and acts from ``policy start``; each constant's ``doc`` cites the source of the mechanism
and says which numbers are assumed.
"""

from __future__ import annotations

from sd_engine.builder import Model

__all__ = ["add_system"]


def add_system(m: Model) -> None:
    """Add trust, capability, the national levers, money and the outcomes to builder `m`."""
    _trust(m)
    _capability(m)
    _levers(m)
    _money(m)
    _outcomes(m)


def _trust(m: Model) -> None:
    c = m.constant
    c("trust build time", 730, units="day", doc="Domain §4.3 (assumed).")
    c("trust erode time", 90, units="day", doc="Domain §4.3 (assumed; asymmetry from Slovic 1993).")
    c("reference trust", 0.5, units="dimensionless", doc="Domain T1 (latent; calibrate or elicit).")
    c("base negative", 0.1, units="dimensionless", doc="Negative events at baseline. Assumed — calibrate.")
    m.aux("base positive", "reference_trust / (1 - reference_trust) * base_negative * trust_build_time "
          "/ trust_erode_time", units="dimensionless",
          doc="Derived: positive experience that holds trust at its reference level against the base negative events.")
    c("blame weight", 0.3, units="dimensionless", doc="Negative events per unit blame. Assumed — calibrate.")
    c("target pressure", 1, units="dimensionless",
      doc="Weight of national 4-hour and DToC targets (lever, 0–2). Two-sided: process focus in the ED (the "
          "2004-2010 target era) against blame and pressure that crowd out improvement (Repenning & Sterman 2001).")
    c("system accountability", 0.2, units="dimensionless",
      doc="Share of accountability held at system level: place-based regulation (lever, 0–1; CQC local system "
          "reviews 2017-18). Two-sided: aligned incentives and less blame against a one-off loss of shared "
          "knowledge when the regime changes.")
    c("fine per delayed day", 0, units="GBP/person/day",
      doc="Reimbursement charged to the local authority per acute delayed day (lever; ≈£100 under the Community "
          "Care (Delayed Discharges) Act 2003). Two-sided: the Act's intended incentive to assess and arrange care "
          "promptly (explanatory notes para 9) against blame that erodes trust (Community Care, July 2003).")
    c("fine reference", 100, units="GBP/person/day", doc="A fine that counts as one unit of blame or incentive.")
    c("fine incentive effect", 0.3, units="dimensionless", doc="Cut in placement times per reference fine (the "
      "incentive channel). Assumed; delayed discharges in England fell after 2003.")
    c("fine blame", 0.5, units="dimensionless", doc="Blame per reference fine (the partnership channel). Assumed.")
    m.aux("fine incentive", "min(0.5, fine_incentive_effect * fine_per_delayed_day * policy_on / fine_reference)",
          units="dimensionless", doc="Shorter placements under fines.")
    m.aux("target pressure now", "1 + (target_pressure - 1) * policy_on", units="dimensionless", doc="In force.")
    m.aux("all dtoc", "acute_dtoc + non_acute_dtoc", units="person", doc="Acute and non-acute delayed patients.")
    m.stock("Trust", initial="reference_trust", inflows=["trust building"], outflows=["trust erosion"],
            units="dimensionless", doc="Domain T1: inter-organisational trust, 0-1.")
    c("delay perception time", 180, units="day", doc="Time over which partners judge delays (filters the season). "
      "Assumed.")
    m.aux("delay share", "all_dtoc / (occupied_beds + non_acute_dtoc + intermediate_care_clients * bedded_ic_share)",
          units="dimensionless", doc="Delayed patients as a share of occupied acute and community beds (the 2017 "
                                     "national target measure: 3.5% of occupied bed days).")
    m.stock("Perceived delays", initial="delay_share", inflows=["delay perception"], units="dimensionless",
            doc="The delay share as the partners perceive it: smoothed over the season.")
    m.flow("delay perception", "(delay_share - perceived_delays) / delay_perception_time", units="1/day",
           doc="First-order smoothing.")
    m.aux("joint success", "min(2, initial(perceived_delays) / max(perceived_delays, 1e-6))",
          units="dimensionless", doc="Delays against the start's, credited jointly (L13).")
    c("blame tolerance", 0.1, units="dimensionless", doc="Rise in delays over the start's tolerated before blame. "
      "Assumed.")
    m.aux("blame", "target_pressure_now * (1 - accountability_now) / 0.8 * min(1, max(0, perceived_delays "
          "/ initial(perceived_delays) - 1 - blame_tolerance)) "
          "+ fine_blame * fine_per_delayed_day * policy_on / fine_reference", units="dimensionless",
          doc="Blame: missed targets under national accountability, and fines (L14).")
    m.flow("trust building", "(1 - trust) * base_positive * joint_success / trust_build_time", units="1/day",
           doc="Domain §4.2.")
    m.flow("trust erosion", "trust * (base_negative + blame_weight * blame) / trust_erode_time", units="1/day",
           doc="Domain §4.2.")
    c("learning time", 365, units="day", doc="Domain τ_learn.")
    c("leadership turnover", 0.25, units="1/year", doc="Domain §4.3 (assumed).")
    c("reference knowledge", 0.4, units="dimensionless", doc="Domain T2 (latent; assumed).")
    m.aux("normal sharing", "reference_knowledge * leadership_turnover / days_per_year * learning_time "
          "/ (1 - reference_knowledge)", units="dimensionless",
          doc="Derived: knowledge sharing that holds shared knowledge at its reference level.")
    c("first reorganisation", 1e6, units="day", doc="Date of the first reorganisation (lever; none by default).")
    c("reorganisation interval", 0, units="day", doc="Days between reorganisations (lever; 0 = one only).")
    c("reorganisation loss", 0.3, units="dimensionless", doc="Share of shared knowledge lost. Assumed.")
    c("regime change loss", 0.1, units="dimensionless", doc="Shared knowledge lost per unit change of system "
      "accountability (new regulatory regime). Assumed.")
    m.stock("Shared knowledge", initial="reference_knowledge", inflows=["knowledge gain"],
            outflows=["knowledge loss", "reorganisation losses"], units="dimensionless", doc="Domain T2.")
    m.flow("knowledge gain", "normal_sharing * collaboration * (1 + leadership_headspace * policy_on) "
           "* (1 - shared_knowledge) / learning_time", units="1/day", doc="Domain §4.2; headspace adds time to share.")
    m.flow("knowledge loss", "shared_knowledge * leadership_turnover / days_per_year", units="1/day", doc="Turnover.")
    m.flow("reorganisation losses", "shared_knowledge * (reorganisation_loss * pulse_train(first_reorganisation, 0, "
           "reorganisation_interval, 1e9) + restructure_loss * programme_abandoned + regime_change_loss "
           "* abs(system_accountability - 0.2) * pulse(policy_start, 0)) / dt", units="1/day",
           doc="Step losses: reorganisations, abandoned programmes (L16) and a change of regulatory regime.")
    c("pooled incentive effect", 5, units="dimensionless", doc="Rise in incentive alignment per unit pooled share. "
      "Assumed.")
    m.aux("accountability now", "0.2 + (system_accountability - 0.2) * policy_on", units="dimensionless", doc="In force.")
    m.aux("incentive alignment", "1 + (pooled_incentive_effect * (pooled_budget_share - 0.03) + 0.5 "
          "* (system_accountability - 0.2)) * policy_on", units="dimensionless", doc="Aligned incentives (1 at baseline).")
    m.aux("collaboration", "max(0.05, trust * shared_knowledge / (reference_trust * reference_knowledge) "
          "* incentive_alignment)", units="dimensionless",
          doc="Domain: T1 x T2 x incentives (α = β = 1), 1 at the reference levels.")
    m.aux("joint working effect", "1 / sqrt(min(4, max(0.25, collaboration)))", units="dimensionless",
          doc="Multiplier on arrangement and placement times from collaboration (bounded: at most doubled or "
              "halved).")


def _capability(m: Model) -> None:
    c = m.constant
    c("improvement time", 0.05, units="dimensionless", doc="Share of nurse time on improvement (lever; domain §4.3).")
    c("tests of change", 1, units="dimensionless", doc="Tests of change per team per month (lever, 0–4; Spear).")
    m.lookup("tests effect", [(0, 0.5), (1, 1.0), (4, 1.6)], units="dimensionless",
             doc="Tests of change raise improvement effectiveness (Spear). Assumed.")
    m.lookup("improvement cut", [(0.5, 1.2), (1.0, 1.0), (1.5, 0.7), (2.0, 0.4), (3.0, 0.2)], units="dimensionless",
             doc="Pressure diverts time from improvement (the capability trap). The domain's points (§4.4) made "
                 "gentler just above 1, so that ordinary winter pressure does not erode capability on average.")
    c("reference capability", 0.4, units="dimensionless", doc="Domain T3 (latent; assumed).")
    c("improvement delay", 730, units="day", doc="Improvement effort -> capability (third-order delay). Domain 6-12 "
      "months; two years here, after Bohmer (cited in the report): rebuilding a system's operating system takes "
      "years, not months. Assumed.")
    c("capability erosion time", 1095, units="day", doc="Domain range 1-3 yr; the upper end (Bohmer's decade).")
    c("reference improvement time", 0.05, units="dimensionless", doc="Share of nurse time on improvement in "
      "FY2018/19 (domain §4.3).")
    m.aux("improvement effectiveness", "reference_capability / (capability_erosion_time * reference_improvement_time "
          "* (1 - reference_capability))", units="1/day",
          doc="Derived: holds capability at its reference level at the reference improvement time.")
    c("capability LoS sensitivity", 0.2, units="dimensionless", doc="LoS change per unit capability above reference. "
      "Assumed: capability 0.4 -> 0.8 shortens stays 8% (pathway redesign, Flow Cost Quality).")
    c("leadership headspace", 0, units="dimensionless", doc="Share of leaders' time protected from operational and "
      "regulatory demands (lever, 0–1; the report's 'time and headspace'). Two-sided: protects improvement time "
      "and knowledge sharing, against the cost of backfill.")
    m.aux("improvement time now", "min(0.5, (reference_improvement_time + (improvement_time "
          "- reference_improvement_time) * policy_on + redesign_time * programme_running) "
          "* improvement_cut(1 + (perceived_pressure - 1) * (1 - 0.5 * leadership_headspace * policy_on)) "
          "* (1 - 0.5 * pace_adoption))", units="dimensionless",
          doc="Time on improvement: base, programme, cut by pressure (L11), protected by headspace, crowded out by "
              "solutions at pace.")
    m.stock("Improvement capability", initial="reference_capability", inflows=["capability investment"],
            outflows=["capability erosion", "capability restructuring loss"], units="dimensionless",
            doc="Domain T3, 0-1.")
    m.flow("capability investment", "delay3i(improvement_time_now * improvement_effectiveness "
           "* tests_effect(tests_of_change_now) * (1 - improvement_capability), improvement_delay, "
           "reference_improvement_time * improvement_effectiveness * (1 - reference_capability))", units="1/day",
           doc="Improvement effort becoming capability after a delay, bounded by 1.")
    m.aux("tests of change now", "1 + (tests_of_change - 1) * policy_on", units="dimensionless", doc="In force.")
    m.flow("capability erosion", "improvement_capability / capability_erosion_time", units="1/day", doc="Domain §4.2.")
    m.flow("capability restructuring loss", "improvement_capability * restructure_loss * programme_abandoned / dt",
           units="1/day", doc="Capability lost when a programme is abandoned (L16).")
    m.aux("capability LoS effect", "1 - capability_los_sensitivity * (improvement_capability - reference_capability)",
          units="dimensionless", doc="Capability shortens stays (L11).")
    m.aux("capability failure effect", "1 - 2 * capability_los_sensitivity * (improvement_capability "
          "- reference_capability)", units="dimensionless", doc="Capability cuts readmissions (failure demand).")

    c("pressure time", 90, units="day", doc="Domain §4.3 (7-90 d; the upper end: chronic, not weekly, pressure).")
    c("occupancy target", 0.92, units="dimensionless", doc="Occupancy regarded as on target (escalation trigger).")
    c("tolerated breaches", 0.185, units="dimensionless", doc="4-hour breaches taken as normal pressure: the type-1 "
      "level of FY2018/19 (81.5% within 4 hours).")
    m.aux("pressure gap", "(occupancy / occupancy_target + target_pressure_now * (1 - four_hour_performance) "
          "/ tolerated_breaches + nhs_spending / nhs_funding) / 3", units="dimensionless",
          doc="The mean of three gaps, each about 1 at the FY2018/19 level: occupancy, 4-hour breaches (weighted by "
              "target pressure), spending over funding.")
    m.stock("Perceived pressure", initial=1, inflows=["pressure change"], units="dimensionless",
            doc="Domain T4: smoothed pressure, 1 at the FY2018/19 level.")
    m.flow("pressure change", "(pressure_gap - perceived_pressure) / pressure_time", units="1/day",
           doc="First-order smoothing over 30 days.")

    # -- programmes and the planning cycle (L16) --------------------------------------------------------
    c("redesign time", 0, units="dimensionless", doc="Extra share of nurse time on improvement while a redesign "
      "programme runs (lever).")
    c("redesign start", 365, units="day", doc="Launch of the first redesign programme (lever).")
    c("evaluation window", 730, units="day", doc="Time after a launch when a programme is judged and abandoned "
      "without results (lever; 2 years: the annual planning and electoral cycle; Bohmer: a decade).")
    c("planning cycle", 1825, units="day", doc="Interval between planning rounds that relaunch an abandoned programme "
      "(lever; 5 years, the parliamentary term of the Fixed-term Parliaments Act 2011; domain §1.4).")
    c("results threshold", 0.15, units="dimensionless", doc="Rise in improvement capability since launch counted as "
      "results. Assumed: capability takes years to build (Bohmer), so a short window rarely sees it.")
    c("restructure loss", 0.25, units="dimensionless", doc="Capability and knowledge lost when abandoned. Assumed.")
    m.aux("launch", "if_then_else(redesign_time > 0, pulse_train(redesign_start, 0, planning_cycle, 1e9), 0) "
          "* (1 - programme_running)", units="dimensionless",
          doc="The share of a full programme (re)launched at a planning round.")
    m.stock("Programme running", initial=0, inflows=["programme launches"], outflows=["programme stops"],
            units="dimensionless", doc="How much of a redesign programme runs (1 in full).")
    m.flow("programme launches", "launch / dt", units="1/day", doc="Launches at planning rounds.")
    m.flow("programme stops", "programme_abandoned / dt", units="1/day", doc="Abandonment at a review.")
    m.stock("Programme age", initial=0, inflows=["programme ageing"], outflows=["programme age reset"], units="day",
            doc="Days since the running programme was launched.")
    m.flow("programme ageing", "if_then_else(programme_running > 0.5, one_day_rate, 0)", units="day/day",
           doc="Ageing while (mostly) running.")
    c("one day rate", 1, units="day/day", doc="Unit conversion.")
    m.flow("programme age reset", "if_then_else(launch > 0, programme_age / dt, 0)", units="day/day",
           doc="Reset at a (re)launch.")
    m.stock("Capability at launch", initial="reference_capability", inflows=["capability record"],
            units="dimensionless", doc="Improvement capability when the running programme was launched.")
    m.flow("capability record", "(improvement_capability - capability_at_launch) * launch / dt", units="1/day",
           doc="Records capability at a launch.")
    m.aux("review due", "if_then_else(programme_running > 0, if_then_else(programme_age > dt / 2, "
          "if_then_else(modulo(programme_age + dt / 2, evaluation_window) < dt, 1, 0), 0), 0)", units="dimensionless",
          doc="1 for a step when a running programme reaches a multiple of the evaluation window.")
    c("judgement spread", 0.02, units="dimensionless", doc="Spread of the judgement around the threshold "
      "(capability points): reviews scale a programme back in proportion to how clearly it missed. Assumed.")
    m.aux("programme abandoned", "review_due * programme_running / (1 + exp((improvement_capability "
          "- capability_at_launch - results_threshold) / judgement_spread))", units="dimensionless",
          doc="The share of the programme stopped at a review: nearly all when capability has clearly not risen "
              "by the threshold since launch, nearly none when it clearly has. Capability builds over years "
              "(and time taken from care makes performance worse first), so a short window sees no results.")


def _levers(m: Model) -> None:
    c = m.constant
    # New Care Models: collaboration vehicles (vanguards, 2015-18; NIHR realist synthesis 2018)
    c("care home support", 0, units="dimensionless", doc="Coverage of Enhanced Health in Care Homes (lever, 0–1). "
      "At full maturity it avoids 11% of care home residents' A&E attendances: 41% of their emergency admissions "
      "are potentially avoidable and the Wakefield vanguard saw 27% fewer of those (Health Foundation IAU 2019).")
    c("admission avoidance", 0, units="dimensionless", doc="Coverage of multispecialty / primary and acute care "
      "system models (lever, 0–1). Cuts conversion by up to 5% at full maturity. Assumed from the vanguards' "
      "slower emergency admission growth (NHS England 2017; effect sizes uncertain).")
    c("integrated discharge", 0, units="dimensionless", doc="Coverage of integrated discharge teams / discharge to "
      "assess (lever, 0–1). Cuts transfer-arrangement times by up to 25% at full maturity. Assumed.")
    c("new care models ramp", 730, units="day", doc="Time for a new care model to mature. Assumed (vanguards ran "
      "2015-2018).")
    c("new care models cost", 10, units="GBP/person/year", doc="Cost per head per year at full coverage of one model. "
      "Assumed (vanguard transformation funding ≈£390 m over 2016-18 for ≈9% of England).")
    m.aux("new care models on", "policy_on * if_then_else(care_home_support + admission_avoidance "
          "+ integrated_discharge > 0, 1, 0)", units="dimensionless", doc="1 once any new care model runs.")
    m.stock("New care models maturity", initial=0, inflows=["new care models maturing"], units="dimensionless",
            doc="How far the new care models have matured (0-1).")
    m.flow("new care models maturing", "(new_care_models_on - new_care_models_maturity) / new_care_models_ramp",
           units="1/day", doc="First-order maturing.")
    m.aux("ncm effect", "new_care_models_maturity * sqrt(min(2, collaboration))", units="dimensionless",
          doc="Maturity scaled by joint working: models built on collaboration work only as far as it goes.")
    m.aux("care home support saving", "min(0.5, care_home_support * ncm_effect) * 0.41 * 0.27 * care_home_places "
          "* one_person / one_place * 0.9 * care_home_attendance_rate / days_per_year", units="person/day",
          doc="A&E attendances of care home residents avoided.")
    m.aux("admission avoidance effect", "min(0.2, 0.05 * admission_avoidance * ncm_effect)", units="dimensionless",
          doc="Cut in conversion.")
    m.aux("integrated discharge effect", "min(0.5, 0.25 * integrated_discharge * ncm_effect)", units="dimensionless",
          doc="Cut in transfer-arrangement time.")
    # Solutions at pace (Seddon) against repeated tests of change (Spear)
    c("solutions at pace", 0, units="dimensionless", doc="Coverage of a nationally specified flow model copied at pace "
      "(lever, 0–1; Seddon: productivity-driven solutions rarely deliver). Two-sided: a quick cut in stays that "
      "fades unless local capability sustains it, while the roll-out crowds out improvement time.")
    c("pace campaign", 365, units="day", doc="Length of the roll-out campaign. Assumed.")
    c("pace effect", 0.06, units="dimensionless", doc="Cut in stays at full adoption. Assumed.")
    c("pace decay time", 365, units="day", doc="Time for an adopted model to fade at reference capability. Assumed.")
    m.stock("Pace adoption", initial=0, inflows=["pace adopting"], outflows=["pace fading"], units="dimensionless",
            doc="Adoption of the copied model (0-1).")
    m.flow("pace adopting", "solutions_at_pace * policy_on * (1 - step(1, policy_start + pace_campaign)) "
           "* max(0, 1 - pace_adoption) / 90 / one_day", units="1/day", doc="Rapid roll-out during the campaign.")
    m.flow("pace fading", "pace_adoption / (pace_decay_time * improvement_capability / reference_capability)",
           units="1/day", doc="Fading without local capability.")
    m.aux("pace LoS effect", "1 - pace_effect * pace_adoption", units="dimensionless", doc="Stays cut by adoption.")
    c("headspace cost", 8, units="GBP/person/year", doc="Backfill cost per head per year of full leadership headspace. "
      "Assumed.")


def _money(m: Model) -> None:
    c = m.constant
    c("nhs budget growth", 0.015, units="1/year", doc="Real NHS funding growth (lever, 0–4%; domain §4.6 1.5%/yr).")
    c("nhs real cost growth", 0.01, units="1/year", doc="Real growth of NHS unit costs (pay drift, drugs, technology) "
      "net of productivity gains. Assumed: with 1.5% a year funding growth, funded capacity grows 0.5% a year.")
    c("reference balance", -0.005, units="dimensionless", doc="NHS surplus (+) or deficit (-) as a share of spending "
      "at the start. Assumed (providers were in aggregate deficit in 2015-19).")
    c("bed day cost", 250, units="GBP/bed/day", doc="Cost of an open G&A bed-day excluding nursing. Assumed — calibrate.")
    c("nurse cost", 123, units="GBP/FTE/day", doc="Nurse FTE-day with on-costs (≈£45,000 a year). Assumed.")
    c("agency premium", 2, units="dimensionless", doc="Agency cost relative to staff. Assumed.")
    c("escalation premium", 200, units="GBP/bed/day", doc="Extra cost of an escalation bed-day. Assumed.")
    c("ED attendance cost", 160, units="GBP/person", doc="Type-1 attendance (NHS reference costs, approximate).")
    c("admission cost", 600, units="GBP/person", doc="Cost of an admission beyond bed-days (diagnostics, procedures). "
      "Assumed.")
    c("elective admission cost", 1500, units="GBP/person", doc="Cost of an elective admission beyond bed-days. Assumed.")
    c("IC place cost", 137, units="GBP/place/day", doc="Intermediate care place-day (≈£50,000 a year). Assumed.")
    c("home care cost", 30, units="GBP/person/day", doc="Long-term home care client-day (≈£11,000 a year). Assumed.")
    c("care home cost", 88, units="GBP/person/day", doc="LA-funded care home resident-day (≈£32,000 a year). Assumed.")
    c("LA funded share", 0.6, units="dimensionless", doc="Share of care home residents funded by the LA (≈40% "
      "self-fund, CMA 2017).")
    c("spot premium", 2000, units="GBP/person", doc="Extra cost of a spot-purchased placement. Assumed — calibrate.")
    c("social care wage", 60, units="GBP/FTE/day", doc="Social care worker FTE-day (≈£22,000 a year). Assumed.")
    c("prevention share", 0.1, units="dimensionless", doc="Share of the LA budget left for prevention at the start "
      "(models.ageing_chain_demand). Assumed.")
    c("social care funding growth", 0, units="1/year", doc="Real LA adult social care funding growth (lever, −2% to +5%; "
      "flat by default).")
    c("pooled budget share", 0.03, units="dimensionless", doc="Share of NHS acute spending pooled with the LA (Better "
      "Care Fund-like; lever 0–10%, domain 3%). Two-sided: money and aligned incentives for community care, against "
      "less for the hospital.")
    c("deficit response", 0, units="1/year", doc="Savings demanded per unit deficit over a year's budget (L12; lever).")
    c("savings rate", 0, units="1/year", doc="Required cost reduction a year on beds and nursing posts (lever; 2–4%; "
      "Seddon: cost focus raises costs).")
    c("savings start", 365, units="day", doc="Start of the savings programme (lever).")
    c("savings end", 1825, units="day", doc="End of the savings programme (lever).")
    c("LA pre 2017 trend", -0.050715, units="1/year", doc="Real LA funding per head before April 2017 (history, not a "
      "lever). Fitted to England's acute delayed days 2012-2017 (austerity: real spending per head fell), see the "
      "model card.")
    # The improved Better Care Fund (iBCF) of the Spring Budget 2017 reached local authorities in
    # steps: about £1.0 bn in 2017/18, £1.5 bn in 2018/19 and £1.8 bn in 2019/20 on about £20 bn of
    # adult social care spending (approximate; DHSC/MHCLG iBCF allocations), taken as rises of 5%,
    # 7.5% and 9% from each April. Set from the published amounts, not fitted.
    m.lookup("ibcf", [(2017.24, 0.0), (2017.25, 0.05), (2018.24, 0.05), (2018.25, 0.075), (2019.24, 0.075),
                      (2019.25, 0.09)], units="dimensionless",
             doc="Improved Better Care Fund money as a share of LA adult social care spending, by calendar year "
                 "(history: Spring Budget 2017; approximate).")
    m.aux("la history", "exp(la_pre_2017_trend * min(0, calendar_year - 2017.25)) * (1 + ibcf(calendar_year)) "
          "/ (1 + ibcf(reference_year))", units="dimensionless",
          doc="LA funding per person in need relative to FY2018/19: the pre-2017 trend and the iBCF steps "
              "(history, not a lever).")
    m.stock("Savings index", initial=1, outflows=["savings cuts"], units="dimensionless",
            doc="Capacity relative to the start after savings cuts.")
    m.aux("savings rate now", "savings_rate * (step(1, savings_start) - step(1, savings_end)) + deficit_response "
          "* max(0, -financial_position) / (nhs_funding * days_per_year * one_year)", units="1/year",
          doc="The programme plus a response to a deficit (L12).")
    m.flow("savings cuts", "savings_index * savings_rate_now / days_per_year", units="1/day", doc="Cuts.")
    m.aux("unit cost index", "exp(nhs_real_cost_growth * years_since_start)", units="dimensionless",
          doc="Real NHS unit costs relative to the start.")
    m.aux("nhs pay now", "1 + (nhs_pay_index - 1) * policy_on", units="dimensionless", doc="NHS pay in force.")
    m.aux("nhs spending", "unit_cost_index * (available_beds * bed_day_cost + (nurses * nhs_pay_now + agency_nurses "
          "* agency_premium) * nurse_cost + escalation_beds * escalation_premium + ed_attendances * ed_attendance_cost "
          "+ (admissions + decisions_to_admit * (1 - overnight_share)) * admission_cost + elective_admissions "
          "* elective_admission_cost + ic_capacity * ic_place_cost * 0.5 + (new_care_models_cost * (care_home_support "
          "+ admission_avoidance + integrated_discharge) * new_care_models_on + headspace_cost "
          "* leadership_headspace * policy_on) * total_population / days_per_year)", units="GBP/day",
          doc="NHS spending a day, activity-based: beds open, nurses (pay, agency), escalation, ED attendances, "
              "admissions, NHS share of intermediate care, new care models and headspace.")
    c("reference nhs spending", 1.5e6, units="GBP/day", doc="NHS acute spending per 1 m per day in FY2018/19 "
      "(derived: the model's day-0 spending at the default parameters; sets the size of a pooled share).")
    m.aux("pooled transfer", "(pooled_budget_share - 0.03) * policy_on * reference_nhs_spending * scale",
          units="GBP/day", doc="NHS money pooled beyond the 3% baseline.")
    m.aux("nhs funding", "initial(nhs_spending) * (1 + reference_balance) * exp(nhs_budget_growth * years_since_start) "
          "- pooled_transfer + fine_per_delayed_day * policy_on * acute_dtoc", units="GBP/day",
          doc="NHS funding, less pooled money, plus fines received.")
    m.stock("Financial position", initial=0, inflows=["nhs income"], outflows=["nhs costs"], units="GBP",
            doc="Domain T5: cumulative NHS surplus (+) or deficit (-) since the start.")
    m.flow("nhs income", "nhs_funding", units="GBP/day", doc="Funding received.")
    m.flow("nhs costs", "nhs_spending", units="GBP/day", doc="Spending.")
    # Local authority: care first, prevention gets what is left (care crowds out prevention)
    m.aux("la care spending", "home_care_clients * home_care_cost + care_home_residents * la_funded_share "
          "* care_home_cost + ic_capacity * ic_place_cost * 0.5 * one_person / one_place * one_place / one_person "
          "+ (social_care_workers * (sc_pay_now - 1) * social_care_wage) + la_unplanned_spending", units="GBP/day",
          doc="LA spending on care: clients, its share of IC, pay rises, spot premiums and fines.")
    m.aux("la reference budget", "(reference_home_care_clients * home_care_cost + reference_care_home_residents "
          "* la_funded_share * care_home_cost + base_ic_places * ic_place_cost * 0.5) * scale / (1 - prevention_share)",
          units="GBP/day", doc="Derived: the LA budget of FY2018/19 (care at the domain's client numbers) that leaves "
                               "`prevention share` for prevention.")
    c("reference home care clients", 10000, units="person", doc="Domain C9 (assumed — calibrate).")
    c("reference care home residents", 7300, units="person", doc="Domain C10: 8,150 places x ≈0.9.")
    m.aux("la need growth", "people_in_need / (reference_need_under_65 + reference_need_65_to_84 "
          "+ reference_need_85_plus) / scale", units="dimensionless",
          doc="People in need relative to FY2018/19: LA funding follows them (needs-based allocation, council tax "
              "and the social care precept); the lever is real growth per person in need.")
    m.aux("la budget", "la_reference_budget * la_history * la_need_growth * exp(social_care_funding_growth "
          "* years_since_start) + pooled_transfer * min(1.5, collaboration)", units="GBP/day",
          doc="LA adult social care budget: history, need, growth, pooled money (used as well as joint working "
              "allows).")
    m.aux("la funding index", "max(0.3, la_history * la_need_growth * exp(social_care_funding_growth "
          "* years_since_start) * commissioned_capacity + (pooled_transfer * min(1.5, collaboration) "
          "- la_unplanned_spending) / la_reference_budget)", units="dimensionless",
          doc="LA resources for care relative to FY2018/19, with commissioning (L6: spot premiums and fines "
              "drain them).")
    c("commissioning response", 0.5, units="dimensionless", doc="Extra community capacity commissioned per unit "
      "relative rise in delays (the balancing response of commissioners: Better Care Fund and iBCF spending "
      "followed delays). Assumed — calibrate.")
    c("commissioning time", 730, units="day", doc="Time to commission community capacity. Assumed (about two "
      "planning rounds).")
    m.stock("Commissioned capacity", initial=1, inflows=["commissioning"], units="dimensionless",
            doc="Community care capacity commissioned relative to the plan (1 at the start; B loop against L5).")
    m.flow("commissioning", "(1 + commissioning_response * (perceived_delays / initial(perceived_delays) - 1) "
           "- commissioned_capacity) / commissioning_time", units="1/day", doc="Adjusts toward the delays' signal.")
    c("unplanned spending time", 90, units="day", doc="Time over which unplanned costs feed into LA budgets. Assumed.")
    m.stock("LA unplanned spending", initial=0, inflows=["unplanned spending change"], units="GBP/day",
            doc="Smoothed spot-purchase premiums and fines paid by the LA (L6, L14).")
    m.flow("unplanned spending change", "((spot_purchases_hc + spot_purchases_ch) * spot_premium + fine_per_delayed_day "
           "* policy_on * acute_dtoc - la_unplanned_spending) / unplanned_spending_time", units="GBP/day/day",
           doc="First-order smoothing.")
    m.aux("prevention spending", "max(0, la_budget - la_care_spending)", units="GBP/day",
          doc="What care leaves for prevention.")
    m.aux("prevention index", "prevention_spending / total_population / initial(prevention_spending "
          "/ total_population)", units="dimensionless", doc="Prevention spending per head relative to the start.")


def _outcomes(m: Model) -> None:
    c = m.constant
    c("deaths per long wait", 1 / 82, units="dimensionless", doc="Extra deaths per admitted patient delayed beyond "
      "6-8 hours in ED (Jones et al. 2022, Emerg Med J 39:168: one per 82).")
    c("unmet need excess mortality", 0.05, units="1/year", doc="Extra deaths per person with unmet care need per year. "
      "Assumed.")
    m.aux("excess deaths", "decisions_to_admit * delayed_over_6h * deaths_per_long_wait + unmet_need "
          "* unmet_need_excess_mortality / days_per_year", units="person/day",
          doc="Health harm: deaths attributable to long ED waits and to unmet care need.")
    m.aux("cost per capita", "(nhs_spending + la_budget) * days_per_year / total_population",
          units="GBP/person/year", doc="NHS acute and LA social care spending per head per year (whole system).")
