"""Acute flow with coping policies: how a hospital "copes but does not cope".

Purpose
    Lane, Monefeldt & Rosenhead (2000), Wolstenholme et al. (2007) and Rudolph & Repenning
    (2002), as set out in the domain document §7.2. An emergency department feeds medical
    wards; elective patients use surgical wards; medically fit patients wait for community
    places. Five informal coping policies, each a 0/1 switch, keep emergency waits down at
    the expense of electives, readmissions and budgets: early discharge, outlying (medical
    patients on surgical wards), elective cancellation, escalation beds and spot purchase
    of community care.

Structure (time unit: day; Euler, dt = 1/32 d (45 min, below the 2.4-hour ED time), 365 days, saved daily;
    one large acute trust)
    Stocks: ``Patients in ED``, ``Awaiting a bed``, ``Medical inpatients``, ``Medical
    outliers`` (on surgical wards), ``Surgical inpatients``, ``Elective waiting list``,
    ``Delayed transfers`` (DToC), ``Community clients``, ``Escalation beds``.
    ED time = base ED time x f_crowd(occupancy seen by ED) x f_overwhelm(ED census / normal);
    with outlying on, surgical beds count as beds an emergency can use.
    Admissions are limited by free medical beds; outlying takes the overflow onto surgical
    wards; elective admissions are limited by the surgical beds left; DToC leave for free
    community places or, when spot purchase is on, for premium spot-purchased care, whose
    cost comes out of the community budget.

Feedback loops
    L1 Admission throttle (B): occupancy -> free beds -> admissions -> occupancy.
    L2 Elective buffer (B): outliers -> free surgical beds -> elective admissions -> surgical
    inpatients -> free surgical beds.
    L3 Outlier congestion (R): occupancy -> length-of-stay multiplier -> discharges ->
    occupancy (outlying on).
    L4 Premature discharge (R, delayed): occupancy -> early discharge -> readmissions ->
    admissions -> occupancy (early discharge on).
    L6 Spot-purchase fix (R): DToC -> spot purchase -> community budget -> community places ->
    transfers -> DToC (spot purchase on).
    L7 Escalation beds (B): occupancy -> escalation beds -> occupancy (escalation on).
    L15 Overwhelm tipping (R beyond a threshold): ED census -> ED time -> departures -> ED census.

Parameters (default, unit, source)::

    ED arrivals                330 person/day     assumed — calibrate (a large trust; England type 1 ≈ 767/day per 1 m)
    base ED time               0.1 day            assumed — calibrate (≈ 2.4 h)
    conversion                 0.28               derived: type-1 conversion 0.275–0.299 (domain §4.2)
    admit time                 0.25 day           assumed — calibrate
    medical beds / surgical beds  850 / 300 bed   assumed — calibrate
    active LoS                 7.5 day            Health Foundation (7.9 d total, 2019) less delays
    elective LoS               5.2 day            Health Foundation 2019
    elective plan              50 person/day      assumed — calibrate (fills 260 of 300 surgical beds)
    complex share              0.15               domain §4.3 (assumed — calibrate)
    death share                0.035              domain §4.3 (assumed — calibrate)
    readmission fraction       0.08               domain §4.3 (assumed — calibrate)
    readmission delay          14 day             assumed
    min transfer time          1 day              domain §4.3
    placement time             2 day              assumed — calibrate
    community places           450 place          assumed — calibrate
    community LoS              28 day             domain IC_LoS
    outlier LoS penalty        1.3                assumed (outliers stay longer)
    outlier half effect        20 person          assumed (outliers at which half the f_outlier effect applies)
    escalation trigger         0.92; open 3 d, close 30 d   domain §4.3
    spot purchase time / tolerance / cost   3 day / 30 person / 1,500 GBP/person   assumed
    community budget           40,000 GBP/day     assumed — calibrate
    tables f_crowd, f_premature, f_outlier, early discharge cut: flat to occupancy 0.85, steep above
    0.92 (domain §4.4); f_overwhelm (0, 1) (1, 1) (2, 1.1) (3, 1.5) (5, 3) assumed (Rudolph & Repenning shape)

Policy levers
    The five coping switches (``early discharge on``, ``outlying on``, ``elective cancellation
    on``, ``escalation on``, ``spot purchase on``); ``medical beds`` and ``surgical beds``
    (a bed cut); ``community places``; ``ED arrivals``.

Analytic checks
    With every switch off and occupancy below 0.85 the model is linear: medical inpatients =
    medical admissions x active LoS at steady state (Little's law). Elective cancellations are
    zero while free surgical beds exceed planned electives.
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'L15 overwhelm tipping': ['patients_in_ed', 'ed_time', 'ed_departures'],
    'L6 spot-purchase fix': ['delayed_transfers', 'spot_purchases', 'community_budget_index', 'community_capacity', 'transfers'],
}

def build() -> Model:
    m = Model("acute flow coping", time_units="day", final_time=365, dt=0.03125, saveper=1, doc=__doc__ or "")
    c = m.constant
    c("ED arrivals", 330, units="person/day", doc="New ED attendances. Assumed — calibrate.")
    c("base ED time", 0.1, units="day", doc="Mean time in ED when the hospital is not crowded. Assumed — calibrate.")
    c("normal ED census", 33, units="person", doc="Patients in ED at normal flow (arrivals x base ED time).")
    c("conversion", 0.28, units="dimensionless", doc="Share of ED departures admitted (domain §4.2).")
    c("admit time", 0.25, units="day", doc="Time to admit when a bed is free. Assumed — calibrate.")
    c("medical beds", 850, units="bed", doc="Core medical beds (lever). Assumed — calibrate.")
    c("surgical beds", 300, units="bed", doc="Surgical beds (lever). Assumed — calibrate.")
    c("active LoS", 7.5, units="day", doc="Emergency length of stay excluding delay (Health Foundation 2019).")
    c("elective LoS", 5.2, units="day", doc="Elective length of stay (Health Foundation 2019).")
    c("elective plan", 50, units="person/day", doc="Planned elective admissions. Assumed — calibrate.")
    c("complex share", 0.15, units="dimensionless", doc="Share of discharges needing community care (domain §4.3).")
    c("death share", 0.035, units="dimensionless", doc="Share of spells ending in death (domain §4.3).")
    c("readmission fraction", 0.08, units="dimensionless", doc="Share of discharges readmitted (domain §4.3).")
    c("readmission delay", 14, units="day", doc="Mean time to readmission. Assumed.")
    c("min transfer time", 1, units="day", doc="Minimum time to transfer a fit patient (domain §4.3).")
    c("placement time", 2, units="day", doc="Time to fill a free community place. Assumed — calibrate.")
    c("community places", 450, units="place", doc="Commissioned community places. Assumed — calibrate.")
    c("community LoS", 28, units="day", doc="Length of stay in community care (domain IC_LoS).")
    c("outlier LoS penalty", 1.3, units="dimensionless", doc="Outliers stay longer on the wrong ward. Assumed.")
    c("outlier half effect", 20, units="person", doc="Outliers at which half the outlying LoS effect applies. Assumed.")
    c("escalation trigger", 0.92, units="dimensionless", doc="Occupancy at which escalation beds open (domain §4.3).")
    c("escalation open time", 3, units="day", doc="Time to open escalation beds (domain §4.3).")
    c("escalation close time", 30, units="day", doc="Time to close escalation beds (domain §4.3).")
    c("spot purchase time", 3, units="day", doc="Time to spot-purchase care for a delayed patient. Assumed.")
    c("DToC tolerance", 30, units="person", doc="Delayed patients tolerated before spot purchase. Assumed.")
    c("spot cost", 1500, units="GBP/person", doc="Premium cost of a spot-purchased placement. Assumed.")
    c("community budget", 40000, units="GBP/day", doc="Planned community care budget. Assumed — calibrate.")
    for switch, what in (("early discharge on", "discharge early when beds are full (L4)"),
                         ("outlying on", "place medical patients on surgical wards (L3)"),
                         ("elective cancellation on", "cancel electives when surgical beds are full (L2)"),
                         ("escalation on", "open escalation beds (L7)"),
                         ("spot purchase on", "spot-purchase community care at a premium (L6)")):
        c(switch, 0, units="dimensionless", doc=f"Coping policy switch, 0 or 1: {what}.")
    m.lookup("f crowd", [(0.80, 1.0), (0.85, 1.0), (0.92, 1.3), (0.96, 2.0), (1.00, 3.0)], units="dimensionless",
             doc="ED time multiplier against occupancy (domain §4.4).")
    m.lookup("f premature", [(0.85, 1.0), (0.92, 1.2), (0.96, 1.6), (1.00, 2.0)], units="dimensionless",
             doc="Readmission multiplier against occupancy (domain §4.4).")
    m.lookup("f outlier", [(0.85, 1.0), (0.92, 1.05), (0.96, 1.15), (1.00, 1.3)], units="dimensionless",
             doc="Length-of-stay multiplier from outlying against occupancy (domain §4.4).")
    m.lookup("early discharge cut", [(0.85, 0.0), (0.92, 0.05), (0.96, 0.10), (1.00, 0.15)], units="dimensionless",
             doc="Share of length of stay cut by early discharge against occupancy. Assumed.")
    m.lookup("f overwhelm", [(0, 1.0), (1, 1.0), (2, 1.1), (3, 1.5), (5, 3.0)], units="dimensionless",
             doc="ED time multiplier against ED census / normal (inverted-U productivity, L15). Assumed.")

    m.stock("Patients in ED", initial="normal_ed_census", inflows=["ED attendances"], outflows=["ED departures"],
            units="person", non_negative=True, doc="Patients in the emergency department.")
    m.stock("Awaiting a bed", initial="ed_arrivals * conversion * admit_time", inflows=["decisions to admit", "readmissions"],
            outflows=["medical admissions", "outlier placements"], units="person", non_negative=True,
            doc="Patients with a decision to admit, waiting for a bed.")
    m.stock("Medical inpatients", initial="ed_arrivals * conversion * active_los", inflows=["medical admissions"],
            outflows=["medical discharges"], units="person", non_negative=True, doc="Emergency patients on medical wards.")
    m.stock("Medical outliers", initial=0, inflows=["outlier placements"], outflows=["outlier discharges"],
            units="person", non_negative=True, doc="Medical patients on surgical wards.")
    m.stock("Surgical inpatients", initial="elective_plan * elective_los", inflows=["elective admissions"],
            outflows=["elective discharges"], units="person", non_negative=True, doc="Elective patients.")
    m.stock("Elective waiting list", initial=10000, inflows=["elective referrals"], outflows=["elective admissions"],
            units="person", non_negative=True, doc="Patients waiting for planned treatment.")
    m.stock("Delayed transfers", initial="ed_arrivals * conversion * complex_share * min_transfer_time",
            inflows=["becoming fit"], outflows=["transfers", "spot purchases"], units="person", non_negative=True,
            doc="Medically fit patients waiting for community care (DToC).")
    m.stock("Community clients", initial=300, inflows=["transfers"], outflows=["community discharges"],
            units="person", non_negative=True, doc="Patients in community care after discharge.")
    m.stock("Escalation beds", initial=0, inflows=["escalation opening"], outflows=["escalation closing"],
            units="bed", non_negative=True, doc="Extra beds opened under pressure.")

    m.aux("medical occupancy", "(medical_inpatients + delayed_transfers) / (medical_beds + escalation_beds)",
          units="dimensionless", doc="Occupancy of the medical beds open.")
    m.aux("occupancy seen by ED", "(medical_inpatients + delayed_transfers + outlying_on * (medical_outliers "
          "+ surgical_inpatients)) / (medical_beds + escalation_beds + outlying_on * surgical_beds)",
          units="dimensionless",
          doc="Occupancy of the beds an emergency admission can use: surgical beds count when outlying is on.")
    m.aux("ED time", "base_ed_time * f_crowd(occupancy_seen_by_ed) * f_overwhelm(patients_in_ed / normal_ed_census)",
          units="day", doc="Mean time in ED: longer when wards are full (exit block) or ED is overwhelmed.")
    m.flow("ED attendances", "ed_arrivals", units="person/day", doc="Attendances.")
    m.flow("ED departures", "patients_in_ed / ed_time", units="person/day", doc="Patients leaving ED.")
    m.aux("four hour performance", "1 - exp(-four_hours / ed_time)", units="dimensionless",
          doc="Share of departures within 4 hours, for exponentially distributed time in ED.")
    c("four hours", 4 / 24, units="day", doc="The 4-hour standard.")
    m.flow("decisions to admit", "conversion * ed_departures", units="person/day", doc="Admissions decided in ED.")
    m.aux("free medical beds", "max(0, medical_beds + escalation_beds - medical_inpatients - delayed_transfers)",
          units="bed", doc="Empty medical beds.")
    m.flow("medical admissions", "min(awaiting_a_bed, free_medical_beds) / admit_time", units="person/day",
           doc="Admissions to medical wards (L1).")
    m.aux("free surgical beds", "max(0, surgical_beds - surgical_inpatients - medical_outliers)", units="bed",
          doc="Empty surgical beds.")
    m.flow("outlier placements", "outlying_on * min(max(0, awaiting_a_bed - free_medical_beds), free_surgical_beds) "
           "/ admit_time", units="person/day", doc="Medical patients placed on surgical wards (L3).")
    m.aux("LoS multiplier", "(1 + outlying_on * (f_outlier(medical_occupancy) - 1) * medical_outliers "
          "/ (medical_outliers + outlier_half_effect)) "
          "* (1 - early_discharge_on * early_discharge_cut(medical_occupancy))", units="dimensionless",
          doc="Outlying lengthens stays (L3); early discharge shortens them (L4).")
    m.flow("medical discharges", "medical_inpatients / (active_los * los_multiplier)", units="person/day",
           doc="Patients completing medical care.")
    m.flow("outlier discharges", "medical_outliers / (active_los * outlier_los_penalty)", units="person/day",
           doc="Outliers leaving (home).")
    m.flow("becoming fit", "medical_discharges * complex_share", units="person/day",
           doc="Complex discharges needing community care.")
    m.aux("discharged home", "medical_discharges * (1 - complex_share - death_share) + outlier_discharges",
          units="person/day", doc="Discharges straight home.")
    m.flow("readmissions", "delay1(discharged_home * readmission_fraction "
           "* (1 + early_discharge_on * (f_premature(medical_occupancy) - 1)), readmission_delay)",
           units="person/day", doc="Failure demand: discharged patients readmitted (L4).")
    m.aux("community budget index", "max(0.5, 1 - smooth(spot_purchases * spot_cost, 90) / community_budget)",
          units="dimensionless", doc="Share of the community budget left after spot purchases (L6).")
    m.aux("community capacity", "community_places * community_budget_index", units="place",
          doc="Community places that can be funded.")
    m.flow("transfers", "min(delayed_transfers / min_transfer_time, "
           "max(0, community_capacity - community_clients) / placement_time)", units="person/day",
           doc="Transfers into community care.")
    m.flow("spot purchases", "spot_purchase_on * max(0, delayed_transfers - dtoc_tolerance) / spot_purchase_time",
           units="person/day", doc="Delayed patients placed in premium spot-purchased care (L6).")
    m.flow("community discharges", "community_clients / community_los", units="person/day", doc="Leaving community care.")
    m.flow("elective referrals", "elective_plan", units="person/day", doc="Patients added to the waiting list.")
    m.flow("elective admissions", "if_then_else(elective_cancellation_on > 0, "
           "min(elective_plan, free_surgical_beds / admit_time), elective_plan)", units="person/day",
           doc="Planned admissions, cut when surgical beds are full and cancellation is on (L2).")
    m.aux("elective cancellations", "elective_plan - elective_admissions", units="person/day",
          doc="Planned admissions cancelled (Lane et al. 2000).")
    m.flow("elective discharges", "surgical_inpatients / elective_los", units="person/day", doc="Elective discharges.")
    m.flow("escalation opening", "escalation_on * max(0, medical_occupancy - escalation_trigger) * medical_beds "
           "/ escalation_open_time", units="bed/day", doc="Escalation beds opened (L7).")
    m.flow("escalation closing", "escalation_beds / escalation_close_time", units="bed/day", doc="Escalation beds closed.")
    return m
