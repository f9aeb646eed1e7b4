"""Trust and collaboration between two agencies: an NHS trust and a local authority.

Purpose
    Black et al. (2002), Luna-Reyes et al. (2004, 2008) and Slovic (1993), as set out in the
    domain document §7.5 (loops L13 and L14). Each organisation holds trust in the other;
    trust is built slowly by positive experience (joint success in getting delayed patients
    home) and destroyed quickly by negative events (blame, fines, broken commitments).
    Collaboration, the product of mutual trust, shared knowledge and aligned incentives,
    shortens placement times and so reduces delayed transfers of care (DToC), which is the
    joint success that builds trust.

Structure (time unit: day; Euler, dt = 1 d, 10 years)
    Stocks: ``NHS trust in LA``, ``LA trust in NHS`` (0–1), ``Shared knowledge`` (0–1),
    ``Delayed patients`` (person).
    trust building = (1 - trust) x positive experience / trust build time;
    trust erosion = trust x negative events / trust erode time. With constant positive
    experience p and negative events n the equilibrium is T* = (p/τb) / (p/τb + n/τe).
    Knowledge is gained by sharing (meetings and shared data, scaled by collaboration) and
    lost through leadership turnover and reorganisations (a step loss).
    Placement time = normal placement time x f_trust(collaboration) / funding index.

Feedback loops
    L13 Trust–collaboration (R): trust -> collaboration -> placement time -> delayed
    patients -> joint success -> positive experience -> trust.
    L14 Blame (R): delayed patients above target -> blame and fines -> LA trust erodes ->
    collaboration -> placement time -> delayed patients.
    Knowledge (R): collaboration -> knowledge sharing -> shared knowledge -> collaboration.

Parameters (default, unit, source)::

    trust build time          730 day      assumed — calibrate (domain §4.3, 365–1,460)
    trust erode time          90 day       assumed — calibrate (domain §4.3, 30–180); asymmetry after Slovic 1993
    background positive       0.2          assumed — calibrate (positive experience without joint success)
    joint success weight      0.6          assumed — calibrate
    background negative       0.0986       assumed — calibrate; with the above, the initial state
                                           (trust 0.5, knowledge 0.4, delays on target) is an equilibrium
    blame weight              1.0          assumed — calibrate
    learning time             365 day      assumed — calibrate (domain τ_learn)
    leadership turnover       0.25 1/year  assumed — calibrate (director tenure 3–4 years)
    normal sharing            0.1667       assumed — calibrate (meetings and shared data at normal
                                           collaboration; holds knowledge at 0.4 against turnover)
    referrals to placement    10 person/day  assumed — calibrate (complex discharges for one system)
    normal placement time     7 day        assumed — calibrate (domain placement_time_home_care)
    DToC target               70 person    assumed — scenario input
    aligned incentives        1            assumed; raised by a pooled budget
    fine per delayed day      0 GBP/person/day  lever; the 2003 Act charged ≈ £100
    fine reference            100 GBP/person/day  the fine that counts as one unit of blame
    pooled budget share       0            lever (share of budget pooled, 0–0.1)
    funding cut               0            scenario: fractional cut in LA funding at ``funding cut time``
    reorganisation time       1e6 day      scenario: date of a reorganisation (none by default)
    reorganisation loss       0.5          share of shared knowledge lost at a reorganisation

Policy levers
    Fines vs a pooled budget; a funding cut (broken commitment) and the slow recovery after
    it; leadership churn (``leadership turnover``) and reorganisations.

Analytic checks
    With the joint-success and blame weights at 0 and p = n = 1: T* = (1/730) / (1/730 +
    1/90) ≈ 0.110. Erosion after a blame episode runs τ_build/τ_erode ≈ 8 times faster than
    rebuilding.
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'L13 trust-collaboration': ['nhs_trust_in_la', 'collaboration', 'placement_time', 'placements', 'delayed_patients', 'joint_success', 'positive_experience', 'nhs_trust_building'],
}

def build() -> Model:
    m = Model("trust collaboration two agencies", time_units="day", final_time=3650, dt=1, doc=__doc__ or "")
    c = m.constant
    c("trust build time", 730, units="day", doc="Time constant for building trust. Assumed — calibrate.")
    c("trust erode time", 90, units="day", doc="Time constant for eroding trust. Assumed — calibrate (Slovic 1993).")
    c("background positive", 0.2, units="dimensionless", doc="Positive experience without joint success. Assumed — calibrate.")
    c("joint success weight", 0.6, units="dimensionless", doc="Weight of joint success in positive experience. Assumed — calibrate.")
    c("background negative", 0.0986, units="dimensionless", doc="Negative events without blame. Assumed — calibrate.")
    c("blame weight", 1.0, units="dimensionless", doc="Weight of blame in negative events. Assumed — calibrate.")
    c("learning time", 365, units="day", doc="Time to build shared knowledge. Assumed — calibrate.")
    c("leadership turnover", 0.25, units="1/year", doc="Share of leaders replaced each year. Assumed — calibrate.")
    c("days per year", 365, units="day/year", doc="Calendar conversion.")
    c("normal sharing", 0.1667, units="dimensionless", doc="Knowledge sharing at normal collaboration. Assumed — calibrate.")
    c("referrals to placement", 10, units="person/day", doc="Patients needing a placement. Assumed — calibrate.")
    c("normal placement time", 7, units="day", doc="Placement time at normal collaboration. Assumed — calibrate.")
    c("dtoc target", 70, units="person", doc="Delayed patients regarded as on target. Scenario input.")
    c("target pressure", 1, units="dimensionless", doc="Weight of the DToC target in blame (0–2). Lever.")
    c("aligned incentives", 1, units="dimensionless", doc="Alignment of incentives at no pooled budget. Assumed.")
    c("fine per delayed day", 0, units="GBP/person/day", doc="Fine charged to the LA per delayed day (lever).")
    c("fine reference", 100, units="GBP/person/day", doc="The fine that counts as one unit of blame.")
    c("pooled budget share", 0, units="dimensionless", doc="Share of budget pooled (lever, 0–0.1).")
    c("pooled budget effect", 5, units="dimensionless", doc="Rise in aligned incentives per unit pooled share. Assumed — calibrate.")
    c("funding cut", 0, units="dimensionless", doc="Fractional cut in LA funding (scenario input).")
    c("funding cut time", 365, units="day", doc="Time of the funding cut (scenario input).")
    c("broken commitment size", 2, units="dimensionless", doc="Negative events per unit funding cut, for 30 days. Assumed.")
    c("reorganisation time", 1e6, units="day", doc="Date of a reorganisation (scenario input; none by default).")
    c("reorganisation loss", 0.5, units="dimensionless", doc="Share of shared knowledge lost at a reorganisation. Assumed.")
    c("normal collaboration", 0.5, units="dimensionless", doc="Collaboration in the initial state.")
    c("reference knowledge", 0.4, units="dimensionless", doc="Shared knowledge at which collaboration is normal.")
    c("initial trust", 0.5, units="dimensionless", doc="Trust at the start (domain T1). Latent — calibrate.")
    c("initial knowledge", 0.4, units="dimensionless", doc="Shared knowledge at the start (domain T2). Assumed — calibrate.")
    m.lookup("f trust", [(0, 2.0), (0.5, 1.0), (1, 0.7)], units="dimensionless",
             doc="Placement-time multiplier against collaboration (domain §4.4 f_trust).")

    m.stock("NHS trust in LA", initial="initial_trust", inflows=["NHS trust building"], outflows=["NHS trust erosion"],
            units="dimensionless", doc="The NHS trust's trust in the local authority (0–1).")
    m.stock("LA trust in NHS", initial="initial_trust", inflows=["LA trust building"], outflows=["LA trust erosion"],
            units="dimensionless", doc="The local authority's trust in the NHS trust (0–1).")
    m.stock("Shared knowledge", initial="initial_knowledge", inflows=["knowledge gain"],
            outflows=["knowledge loss", "reorganisation knowledge loss"], units="dimensionless",
            doc="Mutual understanding of each other's work (0–1).")
    m.stock("Delayed patients", initial="referrals_to_placement * normal_placement_time", inflows=["becoming delayed"],
            outflows=["placements"], units="person", non_negative=True,
            doc="Medically fit patients waiting for a placement (the joint DToC outcome).")

    m.aux("incentive alignment", "aligned_incentives * (1 + pooled_budget_effect * pooled_budget_share)",
          units="dimensionless", doc="Alignment of incentives, raised by a pooled budget.")
    m.aux("collaboration", "sqrt(nhs_trust_in_la * la_trust_in_nhs) * shared_knowledge / reference_knowledge "
          "* incentive_alignment", units="dimensionless",
          doc="Mutual trust x shared knowledge (relative to its reference) x aligned incentives "
              "(domain: collaboration = T1^α T2^β x incentives, α = β = 1, trust as a geometric mean).")
    m.aux("funding index", "1 - step(funding_cut, funding_cut_time)", units="dimensionless",
          doc="LA funding relative to the start.")
    m.aux("placement time", "normal_placement_time * f_trust(collaboration) / funding_index", units="day",
          doc="Mean time to arrange a placement.")
    m.flow("becoming delayed", "referrals_to_placement", units="person/day", doc="Patients becoming medically fit.")
    m.flow("placements", "delayed_patients / placement_time", units="person/day", doc="Patients placed.")
    m.aux("joint success", "min(2, dtoc_target / max(delayed_patients, 1))", units="dimensionless",
          doc="Delays against target: above 1 is success credited jointly.")
    m.aux("blame", "target_pressure * max(0, delayed_patients / dtoc_target - 1)", units="dimensionless",
          doc="Blame over delays above target (public target disputes).")
    m.aux("fine pressure", "fine_per_delayed_day / fine_reference * delayed_patients / dtoc_target",
          units="dimensionless", doc="Fines charged to the LA, relative to the reference fine at target.")
    m.aux("broken commitments", "broken_commitment_size * funding_cut * pulse(funding_cut_time, 30)",
          units="dimensionless", doc="A funding withdrawal is a broken commitment for 30 days.")
    m.aux("positive experience", "background_positive + joint_success_weight * joint_success * collaboration / normal_collaboration",
          units="dimensionless", doc="Positive experience of working together.")
    m.aux("NHS negative events", "background_negative + blame_weight * (blame + broken_commitments)",
          units="dimensionless", doc="Negative events seen by the NHS trust: delays over target, funding withdrawn.")
    m.aux("LA negative events", "background_negative + blame_weight * (blame + fine_pressure)",
          units="dimensionless", doc="Negative events seen by the LA: public blame and fines.")
    m.flow("NHS trust building", "(1 - nhs_trust_in_la) * positive_experience / trust_build_time", units="1/day",
           doc="Trust built by positive experience (slow).")
    m.flow("NHS trust erosion", "nhs_trust_in_la * nhs_negative_events / trust_erode_time", units="1/day",
           doc="Trust destroyed by negative events (fast).")
    m.flow("LA trust building", "(1 - la_trust_in_nhs) * positive_experience / trust_build_time", units="1/day",
           doc="Trust built by positive experience (slow).")
    m.flow("LA trust erosion", "la_trust_in_nhs * la_negative_events / trust_erode_time", units="1/day",
           doc="Trust destroyed by negative events (fast).")
    m.aux("knowledge sharing", "normal_sharing * collaboration / normal_collaboration", units="dimensionless",
          doc="Pace of knowledge sharing (meetings, shared data), scaled by collaboration.")
    m.flow("knowledge gain", "knowledge_sharing * (1 - shared_knowledge) / learning_time", units="1/day",
           doc="Shared knowledge built by sharing.")
    m.flow("knowledge loss", "shared_knowledge * leadership_turnover / days_per_year", units="1/day",
           doc="Knowledge lost as leaders move on.")
    m.flow("reorganisation knowledge loss", "shared_knowledge * reorganisation_loss * pulse(reorganisation_time, 0) / dt",
           units="1/day", doc="Step loss of shared knowledge at a reorganisation.")
    return m
