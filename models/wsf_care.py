"""Whole-system flow, onward care: delayed transfers (acute and non-acute), intermediate care,
home care and care homes.

Part of :mod:`models.whole_system_flow`. Each service has clients, places, and three queues
that wait for them: patients in an acute bed (acute DToC), patients in a bedded intermediate
care place (non-acute DToC) and people at home (assessed, waiting). The wait for a place is
queueing-consistent, as in the discharge-capacity models of Wood et al. (2022) and Onen-Dumlu
et al. (2022): the places are M/M/c servers (c the pool a person can be placed in, service time
the mean stay), and the Halfin-Whitt approximation of Erlang C at the current utilisation gives
the share who wait and how long, so delays fall smoothly as places are added and rise steeply
as a market fills, and every capacity lever acts before it binds. Each queue empties at
1 / (arrangement time + wait). Spot purchases move patients into real care at a premium (L6).
Every queue starts at its closed-form equilibrium (Little's law at the day-0 wait).
"""

from __future__ import annotations

from sd_engine.builder import Model

from .wsf_acute import normal_cdf, normal_pdf

__all__ = ["add_care", "SERVICES"]

#: (key, display name, capacity variable, client stock, duration constant, placement time constant)
SERVICES = (
    ("ic", "IC", "ic_capacity", "Intermediate care clients", "ic_los", "placement time ic"),
    ("hc", "home care", "home_care_capacity", "Home care clients", "home_care_duration", "placement time home care"),
    ("ch", "care home", "care_home_places", "Care home residents", "care_home_residence", "placement time care home"),
)


def _steady_wait(m: Model, key: str, in_use: str, capacity: str, duration: str) -> None:
    """Day-0 wait for a place of service `key` at the utilisation its day-0 clients give."""
    pool = {"ic": "ic_pool_size", "hc": "home_care_pool_size", "ch": "care_home_pool_size"}[key]
    placement = {"ic": "placement_time_ic", "hc": "placement_time_home_care", "ch": "placement_time_care_home"}[key]
    m.aux(f"steady utilisation {key}", f"min(0.98, ({in_use}) * one_place / one_person / {capacity})",
          units="dimensionless", doc=f"Day-0 utilisation ({key}); capped at 98% where demand exceeds the places "
                                     "(no equilibrium: the queue then grows from a finite start).")
    m.aux(f"steady beta {key}", f"(1 - steady_utilisation_{key}) * sqrt({pool} / one_place)", units="dimensionless",
          doc=f"Day-0 spare capacity in standard deviations ({key}).")
    beta = f"steady_beta_{key}"
    m.aux(f"steady wait {key}", f"({normal_pdf(beta)} / ({normal_pdf(beta)} + {beta} * {normal_cdf(beta)}) "
          f"* {duration} / ({pool} / one_place * (1 - steady_utilisation_{key})) + {placement}) "
          "* placement_factor" + (" * f_workforce(sc_vacancy_rate)" if key == "hc" else ""), units="day",
          doc=f"Day-0 wait for a place ({key}).")


def add_care(m: Model) -> None:
    """Add onward care (delayed transfers, intermediate care, home care, care homes) to builder `m`."""
    c = m.constant
    # -- pathways out of hospital ---------------------------------------------------------------------
    c("pathway IC", 0.35, units="dimensionless", doc="Complex discharges to intermediate care / reablement (D2A "
      "pathways 1-2). Assumed — calibrate; the rest of the complex discharges (35%) go home after assessment "
      "without a new service (domain §4.2 discharge-to-assess pathways).")
    c("pathway home care", 0.20, units="dimensionless", doc="Complex discharges to a new long-term home care package. "
      "Assumed — calibrate.")
    c("pathway care home", 0.10, units="dimensionless", doc="Complex discharges to a care home (pathway 3). Assumed — "
      "calibrate.")
    c("min transfer time", 1.0, units="day", doc="Time to assess and arrange a transfer from an acute bed when the "
      "service has room (a day: the model steps in days; domain §4.3 range 0.5-2). Assumed.")
    c("placement scale", 0.454593, units="dimensionless", doc="Multiplier on the times to arrange a start in a free place "
      "(IC, home care, care home). Fitted to England's acute delayed days, see the model card.")
    c("community start time", 14, units="day", doc="Time to start a service for someone at home when it has room. Assumed.")
    c("non acute transfer time", 9, units="day", doc="Time to arrange onward care from a bedded IC place. Assumed — "
      "calibrate on England's non-acute delayed days (28 a day per 1 m in FY2018/19).")
    c("deconditioning", 0.05, units="1/day", doc="Rise in the share needing long-term care per day of delay beyond the "
      "start's mean (L5; delayed older patients lose mobility). Assumed — calibrate.")
    m.aux("becoming fit", "completions * complex_share", units="person/day", doc="Patients medically fit, needing onward care.")
    m.aux("mean delay", "acute_dtoc / max(becoming_fit, 0.001 * one_per_day)", units="day", doc="Mean acute delay "
          "(Little's law).")
    m.aux("care need shift", "min(2, max(0.5, 1 + deconditioning * (mean_delay - initial(mean_delay))))",
          units="dimensionless", doc="Deconditioning while delayed raises long-term care needs (L5).")
    m.aux("share home care now", "pathway_home_care * care_need_shift", units="dimensionless", doc="To home care.")
    m.aux("share care home now", "pathway_care_home * care_need_shift", units="dimensionless", doc="To a care home.")
    m.aux("share home now", "max(0, 1 - pathway_ic - share_home_care_now - share_care_home_now)", units="dimensionless",
          doc="Home without a new service.")
    m.aux("hospital transfer time", "min_transfer_time * (1 - integrated_discharge_effect) * joint_working_effect "
          "* (1 - fine_incentive) "
          "* history_discharge_push", units="day",
          doc="Time to arrange a transfer: integrated discharge teams and joint planning (collaboration) shorten it.")
    c("dtoc target effect", 0.15, units="dimensionless", doc="Cut in arrangement and placement times from July 2017 "
      "(national DToC targets: 3.5% of occupied bed days; history, not a lever). Assumed, set without the 2017-2019 "
      "data (as the DToC model's uplift).")
    m.aux("history discharge push", "if_then_else(calendar_year < 2017.5, 1 / (1 - dtoc_target_effect), 1)",
          units="dimensionless", doc="Transfer times before the July 2017 DToC targets, relative to after.")

    # -- intermediate care, home care, care homes ----------------------------------------------------
    c("IC LoS", 28, units="day", doc="Domain §4.3.")
    c("bedded IC share", 0.4, units="dimensionless", doc="Share of IC in beds (community hospitals); onward "
      "delays there are non-acute DToC. Assumed.")
    c("IC share to home care", 0.3, units="dimensionless", doc="IC completions needing long-term home care (domain §4.2).")
    c("IC share to care home", 0.1, units="dimensionless", doc="IC completions needing a care home (domain §4.2).")
    c("home care duration", 730, units="day", doc="Mean length of a home care package (Symmetric model: 24 months).")
    c("care home residence", 913, units="day", doc="Mean residence in a care home (domain §4.3, 2.5 years).")
    c("base IC places", 565.753, units="place", doc="Intermediate care places per 1 m in FY2018/19 (domain C14 assumed 600). "
      "Fitted to England's acute delayed days, see the model card.")
    c("IC change", 0, units="dimensionless", doc="Fractional change in intermediate care places from day 1 (lever, "
      "±0.2; Wolstenholme 1999: the high-leverage flow variable).")
    c("base care home places", 8150, units="place", doc="456,000 places (1 April 2019, King's Fund) / 56.")
    c("care home change", 0, units="dimensionless", doc="Fractional change in care home places from day 1 (lever, ±0.2).")
    c("home care workforce share", 0.4, units="dimensionless", doc="Share of social care FTE in home care. Assumed.")
    c("home care per FTE", 0.95, units="person/FTE", doc="Home care clients per home care worker FTE. Assumed — "
      "calibrate (≈7% spare capacity over 10,000 clients in 2018/19).")
    c("placement time IC", 0.5, units="day", doc="Time to start in an IC place once one is free. Assumed — calibrate.")
    c("placement time home care", 1.0, units="day", doc="Time to start a package once a carer is free. Assumed — "
      "calibrate (domain §4.2 gives 7 d for the whole placement, queue included).")
    c("placement time care home", 1.5, units="day", doc="Time to move into a free care home place. Assumed — calibrate.")
    m.lookup("f trust", [(0, 2.0), (0.5, 1.0), (1, 0.7)], units="dimensionless",
             doc="Placement-time multiplier against trust (domain §4.4).")
    m.lookup("f workforce", [(0, 0.8), (0.07, 1.0), (0.15, 1.6), (0.25, 3.0)], units="dimensionless",
             doc="Placement-time multiplier against the social care vacancy rate (domain §4.4, normal at 7%).")
    m.aux("IC capacity", "base_ic_places * scale * (1 + ic_change * policy_on) * la_funding_index", units="place",
          doc="Intermediate care places (C14), planned with the LA's social care budget (which follows the "
              "population in need).")
    m.aux("home care capacity", "social_care_workers * home_care_workforce_share * home_care_per_fte", units="place",
          doc="Home care capacity from the workforce.")
    m.aux("care home places", "base_care_home_places * scale * (1 + care_home_change * policy_on) * la_funding_index",
          units="place", doc="Domain C13: places follow the fees local authorities can pay (the market follows "
                             "funding, Kim Warren's care-home market model; without its ≈3-year lag).")
    m.aux("placement factor", "placement_scale * f_trust(trust) * joint_working_effect * (1 - fine_incentive) "
          "* history_discharge_push",
          units="dimensionless",
          doc="Trust, joint working and the incentive of fines on the time to find a place (L13, L14, two-sided "
              "fines).")
    c("IC pool size", 30, units="place", doc="Intermediate care places per independently managed pool (a community "
      "ward or reablement team) in the M/M/c wait. Assumed — calibrate.")
    c("home care pool size", 500, units="place", doc="Home care packages one person can be placed in (an LA market "
      "of several providers) in the M/M/c wait. Assumed — calibrate.")
    c("care home pool size", 150, units="place", doc="Care home places one person can be placed in (a local market, "
      "fragmented by need: nursing, dementia, location) in the M/M/c wait. Assumed — calibrate.")

    extra = {"ic": "non_acute_dtoc", "hc": "0 * one_person", "ch": "0 * one_person"}
    pools = {"ic": "ic_pool_size", "hc": "home_care_pool_size", "ch": "care_home_pool_size"}
    c("one person", 1, units="person", doc="Unit count.")
    for key, name, capacity, clients, duration, placement in SERVICES:
        cl = clients.lower().replace(" ", "_")
        pl = placement.replace(" ", "_")
        hosp, comm = f"Acute DToC awaiting {name}", f"Waiting {name} community"
        hosp_k, comm_k = hosp.lower().replace(" ", "_"), comm.lower().replace(" ", "_")
        # The wait for a place: M/M/c with c = the pool, service time = the duration (Wood et al. 2022).
        m.aux(f"utilisation {key}", f"min(0.995, ({cl} + {extra[key]}) * one_place / one_person / {capacity})",
              units="dimensionless", doc=f"Share of {name} places in use (capped: the wait then is very long).")
        m.aux(f"beta {key}", f"(1 - utilisation_{key}) * sqrt({pools[key]} / one_place)", units="dimensionless",
              doc=f"Spare {name} capacity in standard deviations of a pool's use (Halfin & Whitt).")
        m.aux(f"probability of waiting {key}", f"{normal_pdf(f'beta_{key}')} / ({normal_pdf(f'beta_{key}')} "
              f"+ beta_{key} * {normal_cdf(f'beta_{key}')})", units="dimensionless",
              doc=f"Share of people who must wait for a {name} place (Erlang C, Halfin-Whitt approximation).")
        m.aux(f"wait for place {key}", f"(probability_of_waiting_{key} * {duration} / ({pools[key]} / one_place "
              f"* (1 - utilisation_{key})) + {pl}) * placement_factor"
              + (" * f_workforce(sc_vacancy_rate)" if key == "hc" else ""), units="day",
              doc=f"Mean wait for a {name} place: the queue for a free place (M/M/c) and the time to arrange a start.")
        m.aux(f"christmas {key}", "christmas_discharges(christmas_day_of_year)", units="dimensionless",
              doc="Transfers around Christmas.")
        m.flow(f"hospital to {name}", f"{hosp_k} / (hospital_transfer_time + wait_for_place_{key}) * christmas_{key}",
               units="person/day", doc=f"Transfers from acute beds to {name}.")
        m.flow(f"community to {name}", f"{comm_k} / (community_start_time + wait_for_place_{key}) * christmas_{key}",
               units="person/day", doc=f"Starts of {name} for people waiting at home.")
        inflows_s = [f"hospital to {name}", f"community to {name}"]
        if key != "ic":
            na = f"Non acute DToC awaiting {name}"
            na_k = na.lower().replace(" ", "_")
            m.flow(f"non acute to {name}", f"{na_k} / (non_acute_transfer_time + wait_for_place_{key}) "
                   f"* christmas_{key}", units="person/day", doc=f"Transfers from bedded IC to {name}.")
            inflows_s.append(f"non acute to {name}")
            m.flow(f"spot purchases {key}", f"spot_purchase_on * policy_on * max(0, {hosp_k} - 1.25 * initial({hosp_k})) "
                   "/ spot_purchase_time", units="person/day",
                   doc=f"{name} bought spot at a premium for acute delays above 125% of the start's: real care, "
                       "which fills places others wait for (L6).")
            inflows_s.append(f"spot purchases {key}")
        hosp_out = [f"hospital to {name}"] + ([f"spot purchases {key}"] if key != "ic" else [])
        m.stock(hosp, initial=f"steady_hospital_{key} * (hospital_transfer_time + steady_wait_{key})",
                inflows=[f"fit for {name}"], outflows=hosp_out, units="person", non_negative=True,
                doc=f"Medically fit patients in an acute bed waiting for {name} (acute DToC).")
        comm_in = {"ic": ["assessed to IC"], "hc": ["assessed to home care", "home IC to home care"],
                   "ch": ["assessed to care home", "home IC to care home"]}[key]
        m.stock(comm, initial=f"steady_community_{key} * (community_start_time + steady_wait_{key})",
                inflows=comm_in, outflows=[f"community to {name}"], units="person",
                doc=f"People at home assessed as needing {name}, waiting.")
        ends = ([f"{name} ends"] if key != "ic" else
                ["IC ends home", "IC to home care", "IC to care home", "home IC to home care", "home IC to care home"])
        m.stock(clients, initial=f"steady_clients_{key}", inflows=inflows_s, outflows=ends,
                units="person", doc=f"{name} clients, starting on their balanced-growth path.")
        m.aux(f"steady clients {key}", f"{duration} * steady_total_{key} / (1 + service_demand_growth * {duration} "
              "/ days_per_year)", units="person",
              doc=f"Day-0 {name} clients: starts x stay, less the lag of a stock whose inflow grows (balanced "
                  "growth: S = d T / (1 + g d)).")
        if key != "ic":
            m.flow(f"{name} ends", f"{cl} / {duration}", units="person/day",
                   doc=f"{name} ending (completion, death, move).")
            m.stock(na, initial=f"steady_non_acute_{key} * (non_acute_transfer_time + steady_wait_{key})",
                    inflows=[f"IC to {name}"], outflows=[f"non acute to {name}"], units="person",
                    doc=f"Patients in a bedded IC place, ready to leave, waiting for {name} (non-acute DToC).")
    c("one place", 1, units="place", doc="Unit count.")
    c("service demand growth", 0.015, units="1/year", doc="Growth of onward-care demand (admissions and need), for "
      "the day-0 state of the long-stay services only: their clients lag a growing inflow. Assumed (about the "
      "growth of complex discharges and of people in need in the model).")
    c("spot purchase on", 1, units="dimensionless", doc="Coping switch (L6): 1 buys care spot for excess delays.")
    c("spot purchase time", 7, units="day", doc="Time to spot-purchase care. Assumed.")

    m.flow("fit for IC", "becoming_fit * pathway_ic", units="person/day", doc="Fit patients needing IC.")
    m.flow("fit for home care", "becoming_fit * share_home_care_now", units="person/day", doc="Needing home care.")
    m.flow("fit for care home", "becoming_fit * share_care_home_now", units="person/day", doc="Needing a care home.")
    m.flow("IC ends home", "intermediate_care_clients / ic_los * (1 - ic_share_to_home_care - ic_share_to_care_home)",
           units="person/day", doc="IC completions home without long-term care (60%, domain §4.2).")
    m.flow("home IC to home care", "intermediate_care_clients / ic_los * ic_share_to_home_care * (1 - bedded_ic_share)",
           units="person/day", doc="Home-based IC completions needing long-term home care (they wait at home).")
    m.flow("home IC to care home", "intermediate_care_clients / ic_los * ic_share_to_care_home * (1 - bedded_ic_share)",
           units="person/day", doc="Home-based IC completions needing a care home (they wait at home).")
    m.flow("IC to home care", "intermediate_care_clients / ic_los * ic_share_to_home_care * bedded_ic_share",
           units="person/day", doc="Bedded IC completions needing home care (they wait in the IC bed).")
    m.flow("IC to care home", "intermediate_care_clients / ic_los * ic_share_to_care_home * bedded_ic_share",
           units="person/day", doc="Bedded IC completions needing a care home.")
    m.stock("Acute DToC awaiting home", initial="hospital_transfer_time * steady_becoming_fit "
            "* (1 - pathway_ic - pathway_home_care - pathway_care_home)",
            inflows=["fit for home"], outflows=["transfers home"], units="person",
            doc="Fit patients assessed for home without a new service, waiting for the arrangements.")
    m.flow("fit for home", "becoming_fit * share_home_now", units="person/day", doc="Home without a new service.")
    m.flow("transfers home", "acute_dtoc_awaiting_home / hospital_transfer_time "
           "* christmas_discharges(christmas_day_of_year)", units="person/day", doc="Complex discharges home.")
    m.aux("Acute DToC", "acute_dtoc_awaiting_home + acute_dtoc_awaiting_ic + acute_dtoc_awaiting_home_care "
          "+ acute_dtoc_awaiting_care_home", units="person",
          doc="Medically fit patients in acute beds awaiting transfer (domain C5; 2,973 a day in England in "
              "FY2018/19 = 53 per 1 m).")
    m.aux("Non acute DToC", "non_acute_dtoc_awaiting_home_care + non_acute_dtoc_awaiting_care_home", units="person",
          doc="Delayed patients in non-acute (community) beds (domain C8; 28 per 1 m in FY2018/19).")
    m.aux("hospital transfers", "hospital_to_ic + hospital_to_home_care + hospital_to_care_home + spot_purchases_hc "
          "+ spot_purchases_ch + transfers_home", units="person/day", doc="Onward transfers from acute beds.")
    c("days per month", 30.4375, units="day/month", doc="Mean calendar month (365.25 / 12).")
    m.aux("DToC days per month", "acute_dtoc * days_per_month", units="person*day/month",
          doc="Acute delayed bed days in a mean month (the published statistic).")

    # -- day-0 equilibrium (closed form): starts = inflows, queues = inflow x (arrangement time + wait) ------
    m.aux("steady becoming fit", "steady_bed_requests * complex_share", units="person/day",
          doc="Day-0 fit patients (completions = admissions in equilibrium).")
    m.aux("steady hospital ic", "steady_becoming_fit * pathway_ic", units="person/day", doc="Day-0 IC need from hospital.")
    m.aux("steady community ic", "assessed_to_ic", units="person/day", doc="Day-0 IC need from home.")
    m.aux("steady total ic", "steady_hospital_ic + steady_community_ic", units="person/day", doc="Day-0 IC starts.")
    for key, ic_share in (("hc", "ic_share_to_home_care"), ("ch", "ic_share_to_care_home")):
        name = "home_care" if key == "hc" else "care_home"
        m.aux(f"steady hospital {key}", f"steady_becoming_fit * pathway_{name}", units="person/day",
              doc=f"Day-0 {key} need from hospital.")
        m.aux(f"steady non acute {key}", f"steady_total_ic * {ic_share} * bedded_ic_share", units="person/day",
              doc=f"Day-0 {key} need from bedded IC.")
        m.aux(f"steady community {key}", f"assessed_to_{name} + steady_total_ic * {ic_share} * (1 - bedded_ic_share)",
              units="person/day", doc=f"Day-0 {key} need from home.")
        m.aux(f"steady total {key}", f"steady_hospital_{key} + steady_non_acute_{key} + steady_community_{key}",
              units="person/day", doc=f"Day-0 {key} starts.")
    # The wait at day-0 utilisation, with the same M/M/c formula as the flows.
    for key, capacity, duration in (("hc", "home_care_capacity", "home_care_duration"),
                                    ("ch", "care_home_places", "care_home_residence")):
        _steady_wait(m, key, f"steady_clients_{key}", capacity, duration)
    m.aux("steady non acute dtoc", "steady_non_acute_hc * (non_acute_transfer_time + steady_wait_hc) "
          "+ steady_non_acute_ch * (non_acute_transfer_time + steady_wait_ch)", units="person",
          doc="Day-0 non-acute delays (they occupy IC places).")
    _steady_wait(m, "ic", "steady_clients_ic + steady_non_acute_dtoc", "ic_capacity", "ic_los")
