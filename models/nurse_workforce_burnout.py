"""Nurse workforce with burnout: a training pipeline, retention and the burnout spiral.

Purpose
    Homer (1985) and the nurse-workload model (Ergonomics 2019), with England's nursing
    workforce figures (domain document §7.3; loops L7, L8, L9). Students take three years
    to qualify, a quarter drop out; qualified nurses leave at 8.5–10.7% a year, more when
    fatigued. When the workload per nurse is high, nurses work harder, fatigue builds, more
    leave and the workload rises again: the burnout–attrition spiral. A work-hour limit
    (Homer's optimal work limit) caps the effort and keeps the system stable, at the price
    of agency cover.

Structure (time unit: day; Euler, dt = 1 d, 15 years; values per 1 million population)
    Stocks: ``Student nurses``, ``Newly qualified nurses`` (first year), ``Experienced
    nurses``, ``Fatigue`` (index, 0 rested), all FTE except fatigue.
    Graduation is an exact pipeline: graduates(t) = starters(t - 3 years) x (1 - attrition);
    drop-outs leave halfway through the course. Newly qualified nurses become experienced
    after a year. Leavers = experienced x leave rate x f_fatigue(fatigue) x (1 - retention
    gain) plus retirements. Demand for nurses (establishment) is an input; the workload
    ratio is demand / (nurses x (1 - sickness)); effort rises with it up to the work-hour
    limit; fatigue builds when effort exceeds a threshold and recovers over 12 weeks. International
    recruitment responds to vacancies. Agency nurses cover what the staff cannot.

Feedback loops
    L8 Burnout–attrition spiral (R): nurses -> workload -> effort -> fatigue -> leavers ->
    nurses; and fatigue -> sickness -> workload.
    L9 Recruitment (B): vacancies -> international recruits -> nurses -> vacancies.
    L7 (side effect) agency cover: vacancies -> agency FTE (cost), without relieving fatigue.

Parameters (default, unit, source)::

    training places           360 FTE/year     assumed — calibrate (domain W1: 3 x 360 students per 1 m)
    student attrition         0.25             domain §4.3 (24–25% bursary era, 35–36% after it)
    course length             1095 day         3-year degree (Health Careers)
    preceptorship time        365 day          first year after qualifying; assumed
    leave rate                0.087 1/year     Health Foundation: 10.7%/yr in 2017/18 including ≈2% retirement
    retirement rate           0.02 1/year      Health Foundation (≈2% leave at retirement age)
    returners and other joiners  181.5 FTE/year  derived: balances joiners and leavers at baseline (domain §4.2 note)
    fatigue threshold         0.855            derived: effort below which nurses recover; makes the initial
                                               fatigue 0.3 an equilibrium at baseline workload (Homer 1985 style)
    base international recruits   60 FTE/year  domain §4.6 (assumed)
    recruitment response      600 FTE/year     assumed — calibrate (extra recruits per unit vacancy rate)
    nurse demand              5,740 FTE        derived: 5,050 FTE in post + 12% vacancies (Health Foundation, Q1 2019/20)
    base sickness             0.045            domain §4.3 (assumed)
    fatigue time / recovery time  56 / 84 day  domain §4.3 (assumed)
    work hour limit           1.15             domain §4.3 (+15% short-run effort); lever
    f_fatigue table           (0, 0.8) (0.3, 1.0) (0.6, 1.5) (1, 2.5)   domain §4.4
    initial nurses            5,050 FTE        282,661 FTE (NHS Digital, July 2018) / 56

Policy levers
    ``training places`` (and ``training start``/``training increase`` for a step in places),
    ``retention gain`` (fractional cut in the leave rate), ``work hour limit``,
    ``base international recruits``, ``nurse demand`` (safe-staffing establishment).

Analytic checks
    With fatigue switched off (``fatigue effect`` = 0), the steady-state nurse stock is
    (graduates + international + returners) / (leave rate + retirement rate). A step in
    training places appears in graduations exactly three years later, times (1 - attrition).
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'L8 burnout-attrition': ['nurses', 'workload_ratio', 'effort', 'fatigue_build_up', 'fatigue', 'leavers', 'experienced_nurses'],
}

def build() -> Model:
    m = Model("nurse workforce burnout", time_units="day", final_time=5475, dt=1, doc=__doc__ or "")
    c = m.constant
    c("training places", 360, units="FTE/year", doc="Student nurse starters per year per 1 m. Assumed — calibrate.")
    c("training increase", 0, units="FTE/year", doc="Extra starters per year from ``training start`` (lever).")
    c("training start", 365, units="day", doc="When the extra training places start (lever).")
    c("student attrition", 0.25, units="dimensionless", doc="Share of students who do not qualify (domain §4.3).")
    c("course length", 1095, units="day", doc="Length of the nursing degree (3 years).")
    c("preceptorship time", 365, units="day", doc="First year after qualifying. Assumed.")
    c("leave rate", 0.087, units="1/year", doc="Leavers before retirement age (Health Foundation; 10.7% with retirement).")
    c("retirement rate", 0.02, units="1/year", doc="Retirements (Health Foundation, ≈2%).")
    c("retention gain", 0, units="dimensionless", doc="Fractional cut in the leave rate from retention policies (lever).")
    c("returners and other joiners", 181.5, units="FTE/year",
      doc="Joiners from outside the NHS and returners. Derived: balances joiners and leavers at baseline.")
    c("base international recruits", 60, units="FTE/year", doc="International recruits per year per 1 m (domain §4.6, assumed).")
    c("recruitment response", 600, units="FTE/year", doc="Extra recruits per year per unit vacancy rate. Assumed — calibrate.")
    c("normal vacancy rate", 0.12, units="dimensionless", doc="Vacancy rate with no extra recruitment (Health Foundation 2019).")
    c("nurse demand", 5740, units="FTE", doc="Funded establishment: 5,050 in post + 12% vacancies (Health Foundation).")
    c("base sickness", 0.045, units="dimensionless", doc="Sickness absence at no fatigue (domain §4.3).")
    c("fatigue threshold", 0.855, units="dimensionless",
      doc="Effort below which fatigue does not build. Derived: baseline fatigue 0.3 is an equilibrium.")
    c("fatigue time", 56, units="day", doc="Time for overwork to become fatigue (domain §4.3, 8 weeks).")
    c("recovery time", 84, units="day", doc="Time to recover from fatigue (domain §4.3, 12 weeks).")
    c("work hour limit", 1.15, units="dimensionless", doc="Cap on effort relative to contracted hours (lever).")
    c("fatigue effect", 1, units="dimensionless", doc="1 to let fatigue act on leavers and sickness, 0 to switch it off.")
    c("days per year", 365, units="day/year", doc="Calendar conversion.")
    c("initial nurses", 5050, units="FTE", doc="282,661 FTE (NHS Digital, July 2018) / 56.")
    c("initial fatigue", 0.3, units="dimensionless", doc="Fatigue at the start (domain W3; assumed).")
    m.lookup("f fatigue", [(0, 0.8), (0.3, 1.0), (0.6, 1.5), (1, 2.5)], units="dimensionless",
             doc="Leaver multiplier against fatigue (domain §4.4).")

    m.aux("starters", "(training_places + step(training_increase, training_start)) / days_per_year", units="FTE/day",
          doc="Students starting per day.")
    m.stock("Student nurses", initial="training_places / days_per_year * (course_length * (1 - student_attrition) "
            "+ course_length / 2 * student_attrition)", inflows=["student starts"],
            outflows=["graduation", "student drop outs"], units="FTE", doc="Nurses in training.")
    m.flow("student starts", "starters", units="FTE/day", doc="Students starting.")
    m.flow("graduation", "delay_fixed(starters * (1 - student_attrition), course_length, "
           "training_places / days_per_year * (1 - student_attrition))", units="FTE/day",
           doc="Students qualifying: starters three years earlier, less attrition.")
    m.flow("student drop outs", "delay_fixed(starters * student_attrition, course_length / 2, "
           "training_places / days_per_year * student_attrition)", units="FTE/day",
           doc="Students leaving the course, on average halfway through.")
    m.stock("Newly qualified nurses", initial="training_places / days_per_year * (1 - student_attrition) * preceptorship_time",
            inflows=["graduation"], outflows=["gaining experience"], units="FTE", doc="Nurses in their first year.")
    m.flow("gaining experience", "newly_qualified_nurses / preceptorship_time", units="FTE/day",
           doc="Nurses completing their first year.")
    m.stock("Experienced nurses", initial="initial_nurses - newly_qualified_nurses",
            inflows=["gaining experience", "recruitment"], outflows=["leavers"], units="FTE",
            non_negative=True, doc="Registered nurses beyond their first year.")
    m.aux("nurses", "newly_qualified_nurses + experienced_nurses", units="FTE", doc="Registered nurses in post.")
    m.aux("vacancies", "max(0, nurse_demand - nurses)", units="FTE", doc="Funded posts not filled.")
    m.aux("vacancy rate", "vacancies / nurse_demand", units="dimensionless", doc="Vacancies over establishment.")
    m.aux("international recruits", "base_international_recruits + recruitment_response "
          "* max(0, smooth(vacancy_rate, 180) - normal_vacancy_rate)", units="FTE/year",
          doc="International recruitment, stepped up when vacancies rise (L9).")
    m.flow("recruitment", "(international_recruits + returners_and_other_joiners) / days_per_year", units="FTE/day",
           doc="Recruits other than new graduates.")
    m.aux("fatigue multiplier", "1 + fatigue_effect * (f_fatigue(fatigue) - 1)", units="dimensionless",
          doc="Effect of fatigue on leavers (L8).")
    m.flow("leavers", "experienced_nurses * ((leave_rate * (1 - retention_gain)) * fatigue_multiplier "
           "+ retirement_rate) / days_per_year", units="FTE/day", doc="Nurses leaving the NHS.")
    m.aux("sickness", "base_sickness * (1 + 0.5 * fatigue_effect * fatigue)", units="dimensionless",
          doc="Sickness absence, higher when fatigued (domain §4.2).")
    m.aux("workload ratio", "nurse_demand * (1 - normal_vacancy_rate) / (nurses * (1 - sickness))", units="dimensionless",
          doc="Work per available nurse, relative to the normal staffing of the base period.")
    m.aux("effort", "min(workload_ratio, work_hour_limit)", units="dimensionless",
          doc="Hours worked relative to contract: working harder up to the limit.")
    m.stock("Fatigue", initial="initial_fatigue", inflows=["fatigue build up"], outflows=["fatigue recovery"],
            units="dimensionless", non_negative=True, doc="Nurse fatigue / burnout index.")
    m.flow("fatigue build up", "max(0, effort - fatigue_threshold) / fatigue_time", units="1/day", doc="Overwork turning into fatigue.")
    m.flow("fatigue recovery", "fatigue / recovery_time", units="1/day", doc="Recovery from fatigue.")
    m.aux("agency cover", "max(0, nurse_demand * (1 - normal_vacancy_rate) - nurses * (1 - sickness) * effort)",
          units="FTE", doc="Work the staff cannot cover, bought from agencies (L7 side effect).")
    m.aux("leaver rate", "leavers * days_per_year / experienced_nurses", units="1/year", doc="Leavers per nurse per year.")
    return m
