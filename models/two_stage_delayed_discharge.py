"""Two-stage delayed discharge: acute beds blocked by patients waiting for a care package.

Purpose
    The "hello world" of whole-system flow (domain document §7.1): a hospital whose
    discharges are throttled by the number of community care packages, after the Symmetric
    *Delayed Discharge Model* and Wolstenholme (1999). It shows why buying packages beats
    buying beds: each package frees a bed-day for every day it would otherwise have been
    delayed, at £120 a week against £400 a day.

Structure (time unit: day; Euler, dt = 0.25 d, 365 days)
    Stocks ``Waiting for hospital`` -> ``In hospital`` (acute, medically active) ->
    ``Delayed in hospital`` (medically fit, waiting for a package) -> ``In care package``.
    Admissions are limited by free beds; package starts are limited by free packages.
    The stocks start in the analytic steady state (active beds = referrals x stay, packages
    in use = referrals x package share x package duration, or the package capacity if that
    is smaller), so a run with ample capacity stays there.

Feedback loops
    L1 Admission throttle (B): beds occupied -> free beds -> admissions -> beds occupied.
    L5 Downstream blockage (R with L1): package shortfall -> delayed patients -> free beds
    fall -> admissions fall; the delay stock is fed by the downstream constraint only.
    Package turnover (B): packages in use -> package ends -> free packages -> starts.

Parameters (default, unit, source)::

    referrals                 20 person/day       Symmetric model (published parameters)
    acute stay                5 day               Symmetric model
    package share             0.05 dimensionless  Symmetric model (5% need a care package)
    package duration          730 day             Symmetric model (24 months)
    admission time            1 day               assumed — calibrate (time to admit when a bed is free)
    transfer time             1 day               assumed — calibrate (time to start a free package)
    bed capacity              150 bed             assumed — calibrate (a policy lever)
    package capacity          800 package         assumed — calibrate (a policy lever)
    bed cost per day          400 GBP/bed/day     Symmetric model
    package cost per week     120 GBP/package/week Symmetric model

Policy levers
    ``bed capacity`` and ``package capacity`` (the commissioner's split of a fixed budget).

Analytic checks
    Steady state: in hospital = 20 x 5 = 100; packages in use = 20 x 0.05 x 730 = 730, costing
    £87,600 a week. With package capacity K < 730 the delayed stock grows at (1 - K/730) per
    day until the beds run out. Stock conservation: the sum of the stocks plus cumulative
    exits equals the initial stocks plus cumulative referrals.
"""

from sd_engine.builder import Model


def build() -> Model:
    m = Model("two stage delayed discharge", time_units="day", final_time=365, dt=0.25, doc=__doc__ or "")
    m.constant("referrals", 20, units="person/day", doc="Referrals for admission. Source: Symmetric model.")
    m.constant("acute stay", 5, units="day", doc="Mean length of the medically active stay. Source: Symmetric model.")
    m.constant("package share", 0.05, units="dimensionless",
               doc="Share of patients who need a care package before discharge. Source: Symmetric model.")
    m.constant("package duration", 730, units="day", doc="Mean duration of a care package (24 months). Source: Symmetric model.")
    m.constant("admission time", 1, units="day", doc="Time to admit a waiting patient to a free bed. Assumed — calibrate.")
    m.constant("transfer time", 1, units="day", doc="Time to start a free package for a delayed patient. Assumed — calibrate.")
    m.constant("bed capacity", 150, units="bed", doc="Acute beds commissioned (lever). Assumed — calibrate.")
    m.constant("package capacity", 800, units="package", doc="Care packages commissioned (lever). Assumed — calibrate.")
    m.constant("bed cost per day", 400, units="GBP/bed/day", doc="Cost of a hospital bed-day. Source: Symmetric model.")
    m.constant("package cost per week", 120, units="GBP/package/week", doc="Cost of a care package. Source: Symmetric model.")

    m.stock("Waiting for hospital", initial="referrals * admission_time", inflows=["referral flow"],
            outflows=["admissions"], units="person", non_negative=True,
            doc="People referred and waiting for a free bed.")
    m.stock("In hospital", initial="referrals * acute_stay", inflows=["admissions"],
            outflows=["discharges home", "becoming delayed"], units="person", non_negative=True,
            doc="Acute, medically active inpatients.")
    m.stock("Delayed in hospital", initial="referrals * package_share * transfer_time", inflows=["becoming delayed"], outflows=["package starts"],
            units="person", non_negative=True, doc="Medically fit inpatients waiting for a care package.")
    m.stock("In care package", initial="min(package_capacity, referrals * package_share * package_duration)", inflows=["package starts"],
            outflows=["package ends"], units="person", non_negative=True, doc="People receiving a care package.")

    m.flow("referral flow", "referrals", units="person/day", doc="Referrals arriving.")
    m.aux("beds occupied", "in_hospital + delayed_in_hospital", units="bed", doc="Active plus delayed patients.")
    m.aux("free beds", "max(0, bed_capacity - beds_occupied)", units="bed", doc="Empty commissioned beds.")
    m.flow("admissions", "min(waiting_for_hospital, free_beds) / admission_time", units="person/day",
           doc="Admissions, limited by the patients waiting and by free beds (loop L1).")
    m.aux("completing acute care", "in_hospital / acute_stay", units="person/day",
          doc="Patients who finish their active treatment.")
    m.flow("discharges home", "completing_acute_care * (1 - package_share)", units="person/day",
           doc="Discharges that need no package.")
    m.flow("becoming delayed", "completing_acute_care * package_share", units="person/day",
           doc="Medically fit patients who must wait for a package (loop L5).")
    m.aux("free packages", "max(0, package_capacity - in_care_package)", units="package", doc="Unused packages.")
    m.flow("package starts", "min(delayed_in_hospital, free_packages) / transfer_time", units="person/day",
           doc="Transfers from hospital into a free package.")
    m.flow("package ends", "in_care_package / package_duration", units="person/day", doc="Packages ending.")
    m.aux("bed occupancy", "beds_occupied / bed_capacity", units="dimensionless", doc="Share of beds occupied.")
    m.aux("hospital cost per day", "beds_occupied * bed_cost_per_day", units="GBP/day",
          doc="Cost of occupied beds.")
    m.aux("package cost per week total", "in_care_package * package_cost_per_week", units="GBP/week",
          doc="Weekly cost of the packages in use.")
    return m
