"""Capability trap: a productivity-savings programme against user-focused redesign.

Purpose
    Repenning & Sterman (2001, 2002) and Seddon (2008), as set out in the domain document
    §7.4 (loops L10, L11, L12, L16). A service works off value demand plus the failure demand
    its own weak processes create. Cutting staff (savings) gains money at first, then
    failure demand and premium agency work make it worse-before-worse. Diverting time to
    tests of change (redesign) costs capacity at first and pays back as capability grows:
    worse-before-better, a J-curve whose trough can outlast a two-year evaluation window.

Structure (time unit: day; Euler, dt = 1 d, 10 years)
    Stocks: ``Staff`` (FTE), ``Work backlog`` (task), ``Process capability`` (dimensionless
    index, 0.4 normal), ``Perceived pressure`` (dimensionless, 1 normal),
    ``Financial position`` (GBP).
    Work done = min(backlog / processing time, staff x tasks per FTE-day x (1 - improvement
    time) x effort). Failure demand = work done x failure fraction(capability). Backlog
    above 1.2 x normal is bought in from agencies at a premium. Capability: investment =
    improvement time x improvement effectiveness, erosion = capability / erosion time; with
    pressure held constant it is first order towards C* = investment x erosion time.

Feedback loops
    L10 Work harder (B): pressure -> effort -> work done -> backlog -> pressure.
    L11 Capability trap (R): pressure -> improvement time cut -> capability -> failure
    demand -> backlog -> pressure.
    L12 Savings spiral (R): deficit -> savings cuts -> staff -> work done -> backlog ->
    agency spend -> deficit (active when ``deficit response`` > 0).
    L16 Policy churn (R): at the end of the evaluation window, an initiative whose pressure
    has not fallen below normal is abandoned and restructured, losing capability.

Parameters (default, unit, source)::

    value demand               100 task/day          assumed — calibrate
    tasks per FTE day          1.35 task/FTE/day     assumed — calibrate (capacity 2% above baseline demand)
    initial staff              100 FTE               assumed — calibrate
    processing time            5 day                 assumed — calibrate
    normal improvement time    0.05                  domain §4.3 (0.05–0.15)
    improvement effectiveness  0.01096 1/day         derived: holds capability at 0.4 with 0.05 of time and a
                                                     730-day erosion time
    capability erosion time    730 day               domain §4.3 (1–3 years); assumed
    pressure time              30 day                domain §4.3 pressure smoothing; assumed
    cost per FTE day           150 GBP/FTE/day       assumed — calibrate
    agency cost per task       300 GBP/task          assumed — calibrate (a premium over ≈ £111 in-house)
    agency response time       30 day                assumed — calibrate
    failure fraction table     (0, 0.4) (0.4, 0.2) (0.8, 0.1) (1.2, 0.06) (2, 0.04)   assumed — calibrate
    improvement cut table      (0.5, 1.2) (1, 1) (1.5, 0.5) (2, 0.2)   domain §4.4
    effort table               (1, 1) (1.5, 1.15) (2, 1.15)   domain §4.3 (+15% short-run effort)

Policy levers
    ``savings rate`` (required staff reduction per year) applied from ``savings start`` to
    ``savings end``; ``redesign time`` (extra share of time on tests of change) from
    ``redesign start``, judged after ``evaluation window`` days; ``deficit response``
    (savings demanded per unit deficit, for L12); ``restructure loss``.

    improvement delay          270 day               domain §4.3 (180–365); assumed
    failure cost per task      100 GBP/task          assumed — calibrate (repeat contacts, readmissions)

Reference behaviour
    A 3%/yr savings programme is ahead of a 0.15 redesign on the financial position at one
    year and behind at five. Under redesign, pressure stays above normal for about 2.6 years,
    so a two-year evaluation window abandons it (L16) and most of its gain is lost.
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'L11 capability trap': ['perceived_pressure', 'improvement_time', 'capability_investment', 'process_capability', 'failure_demand', 'work_backlog', 'pressure_change'],
}

def build() -> Model:
    m = Model("capability trap savings vs redesign", time_units="day", final_time=3650, dt=1, doc=__doc__ or "")
    c = m.constant
    c("value demand", 100, units="task/day", doc="Demand from users' needs. Assumed — calibrate.")
    c("tasks per FTE day", 1.35, units="task/FTE/day", doc="Productivity of a staff member. Assumed — calibrate.")
    c("initial staff", 100, units="FTE", doc="Staff at the start. Assumed — calibrate.")
    c("processing time", 5, units="day", doc="Minimum time to work a task through. Assumed — calibrate.")
    c("normal improvement time", 0.05, units="dimensionless", doc="Share of time on improvement at normal pressure (domain §4.3).")
    c("improvement effectiveness", 0.01096, units="1/day",
      doc="Capability built per unit of improvement time. Derived: holds capability at 0.4 (0.4 / (0.05 x 730)).")
    c("improvement delay", 270, units="day", doc="Delay from improvement work to capability (domain §4.3: 6–12 months).")
    c("failure cost per task", 100, units="GBP/task",
      doc="Cost elsewhere in the system of each failure-demand task (repeat contacts, readmissions). Assumed — calibrate.")
    c("capability erosion time", 730, units="day", doc="Time constant of capability erosion (domain §4.3; assumed).")
    c("initial capability", 0.4, units="dimensionless", doc="Capability at the start (domain T3; assumed).")
    c("pressure time", 30, units="day", doc="Smoothing time of perceived pressure (domain §4.3; assumed).")
    c("cost per FTE day", 150, units="GBP/FTE/day", doc="Staff cost. Assumed — calibrate.")
    c("agency cost per task", 300, units="GBP/task", doc="Agency cost of a task bought in. Assumed — calibrate.")
    c("agency response time", 30, units="day", doc="Time to buy in work above the tolerated backlog. Assumed.")
    c("tolerated backlog ratio", 1.2, units="dimensionless", doc="Backlog relative to normal before agencies are used. Assumed.")
    c("days per year", 365, units="day/year", doc="Calendar conversion.")
    c("one year", 1, units="year", doc="A year, to express a deficit against a year's budget.")
    c("savings rate", 0, units="1/year", doc="Required staff reduction per year (lever; 2–4%/yr historically).")
    c("savings start", 0, units="day", doc="Start of the savings programme (lever).")
    c("savings end", 1825, units="day", doc="End of the savings programme (lever).")
    c("deficit response", 0, units="1/year", doc="Savings demanded per year per unit of deficit relative to a year's budget (L12).")
    c("redesign time", 0, units="dimensionless", doc="Extra share of time on tests of change (lever, 0–0.2).")
    c("redesign start", 0, units="day", doc="Start of the redesign (lever).")
    c("evaluation window", 36500, units="day", doc="Time after which an initiative without results is abandoned (lever).")
    c("restructure loss", 0.25, units="dimensionless", doc="Share of capability lost when an initiative is abandoned. Assumed.")
    m.lookup("failure fraction", [(0, 0.4), (0.4, 0.2), (0.8, 0.1), (1.2, 0.06), (2, 0.04)], units="dimensionless",
             doc="Share of work that comes back as failure demand, against capability. Assumed — calibrate.")
    m.lookup("improvement cut", [(0.5, 1.2), (1, 1), (1.5, 0.5), (2, 0.2)], units="dimensionless",
             doc="Pressure diverts time from improvement (domain §4.4).")
    m.lookup("effort", [(1, 1), (1.5, 1.15), (2, 1.15)], units="dimensionless",
             doc="Working harder under pressure: up to +15% (domain §4.3).")

    m.stock("Staff", initial="initial_staff", outflows=["staff cuts"], units="FTE", non_negative=True,
            doc="Staff in post.")
    m.stock("Work backlog", initial="value_demand / (1 - failure_fraction(initial_capability)) * processing_time",
            inflows=["value arrivals", "failure demand"], outflows=["work done", "agency work"], units="task",
            doc="Tasks waiting or in progress. Its outflows never exceed backlog / processing time, so it stays "
                "non-negative without the engine's outflow limit (which would read the failure-demand inflow "
                "and close an algebraic loop).")
    m.stock("Process capability", initial="initial_capability", inflows=["capability investment"],
            outflows=["capability erosion", "restructuring loss"], units="dimensionless",
            doc="Capability of the processes (0.4 normal).")
    m.stock("Perceived pressure", initial=1, inflows=["pressure change"], units="dimensionless",
            doc="Smoothed backlog relative to normal (1 at target).")
    m.stock("Financial position", initial=0, inflows=["budget"], outflows=["spending"], units="GBP",
            doc="Cumulative surplus (+) or deficit (-).")

    m.aux("normal backlog", "initial(work_backlog)", units="task", doc="The backlog at the start, taken as normal.")
    m.aux("in savings window", "step(1, savings_start) - step(1, savings_end)", units="dimensionless",
          doc="1 while the savings programme runs.")
    m.aux("annual budget", "budget * days_per_year", units="GBP/year", doc="A year's budget.")
    m.aux("required savings", "savings_rate * in_savings_window + deficit_response * max(0, -financial_position) "
          "/ annual_budget / one_year", units="1/year",
          doc="Required reduction per year: the programme plus the response to a deficit (L12).")
    m.flow("staff cuts", "staff * required_savings / days_per_year", units="FTE/day", doc="Posts removed.")
    m.aux("initiative active", "step(1, redesign_start) * (1 - abandoned)", units="dimensionless",
          doc="1 while the redesign runs.")
    m.aux("abandoned", "sample_if_true(abs(time - redesign_start - evaluation_window) < dt / 2, no_results, 0)",
          units="dimensionless", doc="1 once the initiative was judged without results and abandoned (L16).")
    m.aux("no results", "if_then_else(perceived_pressure > 1, 1, 0)", units="dimensionless",
          doc="Pressure has not fallen below normal.")
    m.aux("improvement time", "min(0.5, normal_improvement_time * improvement_cut(perceived_pressure) "
          "+ redesign_time * initiative_active)", units="dimensionless",
          doc="Share of staff time on improvement (cut by pressure: L11).")
    m.aux("work effort", "effort(perceived_pressure)", units="dimensionless", doc="Effort relative to normal (L10).")
    m.aux("capacity", "staff * tasks_per_fte_day * (1 - improvement_time) * work_effort", units="task/day",
          doc="Tasks the staff can do per day.")
    m.flow("value arrivals", "value_demand", units="task/day", doc="Value demand.")
    m.flow("work done", "min(work_backlog / processing_time, capacity)", units="task/day", doc="Tasks completed in-house.")
    m.flow("failure demand", "work_done * failure_fraction(process_capability)", units="task/day",
           doc="Work that comes back because it was not done right (Seddon).")
    m.flow("agency work", "max(0, work_backlog - tolerated_backlog_ratio * normal_backlog) / agency_response_time",
           units="task/day", doc="Work bought in above the tolerated backlog.")
    m.flow("capability investment", "delay3i(improvement_time * improvement_effectiveness, improvement_delay, "
           "normal_improvement_time * improvement_effectiveness)",
           units="1/day",
           doc="Capability built by improvement work.")
    m.flow("capability erosion", "process_capability / capability_erosion_time", units="1/day",
           doc="Capability lost without practice.")
    m.flow("restructuring loss", "process_capability * restructure_loss * abandoned "
           "* pulse(redesign_start + evaluation_window, 0) / dt", units="1/day",
           doc="Capability lost when an initiative is abandoned and restructured (L16).")
    m.flow("pressure change", "(work_backlog / normal_backlog - perceived_pressure) / pressure_time", units="1/day",
           doc="First-order smoothing of the backlog ratio.")
    m.flow("budget", "initial(spending)", units="GBP/day", doc="Budget: the spending at the start, held flat.")
    m.flow("spending", "staff * cost_per_fte_day + agency_work * agency_cost_per_task "
           "+ failure_demand * failure_cost_per_task", units="GBP/day",
           doc="Staff, agency and failure-demand spending.")
    m.aux("cost per value task", "spending / value_demand", units="GBP/task",
          doc="Spending per unit of value demand: the cost measure of the triple aim.")
    m.aux("total demand", "value_demand + failure_demand", units="task/day", doc="Value plus failure demand.")
    return m
