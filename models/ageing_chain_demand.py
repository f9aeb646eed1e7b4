"""Ageing-chain demand: population by age band and need, with care crowding out prevention.

Purpose
    Homer & Hirsch (2006) and Desai et al. (2008), as set out in the domain document §7.7.
    People age through three bands (0–64, 65–84, 85+), each split into those without and
    with a care need. Need begins (onset) at a rate that rises with age and falls with
    prevention spending; a fixed budget pays for care first, so rising care costs take
    funds from prevention and raise onset ("care crowds out prevention"). It feeds the
    demand sector (D1–D4) of the whole-system flow model.

Structure (time unit: year; Euler, dt = 0.25 yr, 30 years; per 1 million population)
    Stocks: ``Well under 65``, ``Well 65 to 84``, ``Well 85 plus`` and ``In need ...`` for the
    same bands (person). Births and net migration enter ``Well under 65``; ageing moves
    people between bands after the band residence times (65 and 20 years); deaths leave
    each band (higher for people in need); the last band is left only by death.
    Onset = well x onset rate x f_prevention(prevention spending per person in need).

Feedback loops
    Care crowds out prevention (R): people in need -> care cost -> prevention budget ->
    onset -> people in need.
    Mortality (B) in every band.

Parameters (default, unit, source)::

    births and net migration   13,850 person/year    assumed — calibrate (≈ holds the under-65 band)
    band 0-64 years / band 65-84 years   65 / 20 year   ages (domain §4.2)
    mortality well  0.0015 / 0.025 / 0.25 1/year      assumed — calibrate (ONS band rates)
    mortality improvement      0.01 1/year            assumed — calibrate; with it the 85+ band grows (cf. +101%
                                                      2010–2030, House of Lords 2013)
    need mortality multiplier  1.5                    assumed — calibrate
    onset rates    0.0001 / 0.0065 / 0.12 1/year      assumed — calibrate; near balance with the initial prevalence
                                                      (5,000 / 12,000 / 8,000 people in need)
    care cost per person in need   12,000 GBP/person/year   assumed — calibrate
    total budget               as at the start, growing ``budget growth`` a year; prevention gets what care leaves
    prevention effect table    (0, 1.3) (1, 1.0) (2, 0.85)  onset multiplier against prevention relative to the start
    onset cut                  0                      lever: fractional cut in onset (Milstein et al. 2007 tested 29%)

Policy levers
    ``onset cut``, ``budget growth``, ``care cost per person in need``.

Analytic checks
    With constant inflow B, no onset and no mortality before the last band, band k holds
    B x τ_k in steady state; with mortality m_k it holds inflow_k / (1/τ_k + m_k), and the
    last band inflow_k / m_k.
"""

from sd_engine.builder import Model

__all__ = ["build", "add_chain", "BANDS"]


def build() -> Model:
    m = Model("ageing chain demand", time_units="year", final_time=30, dt=0.25, doc=__doc__ or "")
    c = m.constant
    c("births and net migration", 13850, units="person/year", doc="Entrants to the 0–64 band. Assumed — calibrate.")
    c("band under 65 years", 65, units="year", doc="Residence time in the 0–64 band.")
    c("band 65 to 84 years", 20, units="year", doc="Residence time in the 65–84 band.")
    c("mortality under 65", 0.0015, units="1/year", doc="Deaths per person per year, well, 0–64. Assumed — calibrate.")
    c("mortality 65 to 84", 0.025, units="1/year", doc="Deaths per person per year, well, 65–84. Assumed — calibrate.")
    c("mortality 85 plus", 0.25, units="1/year", doc="Deaths per person per year, well, 85+. Assumed — calibrate.")
    c("mortality improvement", 0.01, units="1/year", doc="Yearly fall in mortality (longer lives). Assumed — calibrate.")
    c("need mortality multiplier", 1.5, units="dimensionless", doc="Higher mortality of people in need. Assumed.")
    c("onset under 65", 0.0001, units="1/year", doc="Need onset per well person per year. Assumed — calibrate.")
    c("onset 65 to 84", 0.0065, units="1/year", doc="Need onset per well person per year. Assumed — calibrate.")
    c("onset 85 plus", 0.12, units="1/year", doc="Need onset per well person per year. Assumed — calibrate.")
    c("onset cut", 0, units="dimensionless", doc="Fractional cut in onset from prevention programmes (lever).")
    c("care cost per person", 12000, units="GBP/person/year", doc="Cost of care per person in need. Assumed — calibrate.")
    c("prevention share", 0.1, units="dimensionless", doc="Share of the initial budget spent on prevention. Assumed.")
    c("budget growth", 0.01, units="1/year", doc="Real growth of the care and prevention budget (lever).")
    c("initial well under 65", 815000, units="person", doc="Domain D1 less those in need.")
    c("initial well 65 to 84", 144000, units="person", doc="Domain D2 less those in need.")
    c("initial well 85 plus", 16000, units="person", doc="Domain D3 less those in need.")
    c("initial need under 65", 5000, units="person", doc="People 0–64 in need. Assumed — calibrate.")
    c("initial need 65 to 84", 12000, units="person", doc="People 65–84 in need. Assumed — calibrate.")
    c("initial need 85 plus", 8000, units="person", doc="People 85+ in need. Assumed — calibrate.")
    m.lookup("f prevention", [(0, 1.3), (1, 1.0), (2, 0.85)], units="dimensionless",
             doc="Onset multiplier against prevention spending per person relative to the start. Assumed.")

    add_chain(m, flow_units="person/year")
    m.flow("births", "births_and_net_migration", units="person/year", doc="Births and net migration.")
    m.aux("people in need", "in_need_under_65 + in_need_65_to_84 + in_need_85_plus", units="person", doc="Prevalence of care need.")
    m.aux("population", "people_in_need + well_under_65 + well_65_to_84 + well_85_plus", units="person", doc="Total population.")
    m.aux("care cost", "people_in_need * care_cost_per_person", units="GBP/year", doc="Spending on care.")
    m.aux("budget", "initial(care_cost) / (1 - prevention_share) * exp(budget_growth * time)", units="GBP/year",
          doc="Care and prevention budget, growing in real terms.")
    m.aux("prevention spending", "max(0, budget - care_cost)", units="GBP/year",
          doc="What care leaves for prevention (care crowds out prevention).")
    m.aux("prevention index", "prevention_spending / population / initial(prevention_spending / population)",
          units="dimensionless", doc="Prevention spending per person relative to the start.")
    return m


#: The three age bands of the chain, youngest first.
BANDS = ("under 65", "65 to 84", "85 plus")


def add_chain(m: Model, *, flow_units: str, per_time: str = "", years: str = "time",
              prevention_index: str = "prevention_index", births: str = "births") -> None:
    """Add the chain's six stocks and their flows to builder `m`.

    The whole-system flow model uses the same structure as its demand sector, so the chain
    is written once. `m` must define the constants the flows read (``onset <band>``,
    ``mortality <band>``, ``band under 65 years``, ``band 65 to 84 years``, ``mortality
    improvement``, ``need mortality multiplier``, ``onset cut``, ``initial well <band>``,
    ``initial need <band>``), the lookup ``f prevention``, the flow `births` and the
    variable `prevention_index`. Rates are per year; `per_time` divides every flow (e.g.
    ``" / days_per_year"`` for a model in days) and `years` is the number of years that
    mortality improvement has acted (``time`` in this model).
    """
    for k, band in enumerate(BANDS):
        well, need = f"Well {band}", f"In need {band}"
        wk, nk, bk = (x.lower().replace(" ", "_") for x in (well, need, band))
        w_in = [births] if k == 0 else [f"ageing well {BANDS[k - 1]}"]
        n_in = [f"onset {band} flow"] + ([] if k == 0 else [f"ageing need {BANDS[k - 1]}"])
        w_out = [f"onset {band} flow", f"deaths well {band}"] + ([f"ageing well {band}"] if k < 2 else [])
        n_out = [f"deaths need {band}"] + ([f"ageing need {band}"] if k < 2 else [])
        m.stock(well, initial=f"initial_well_{bk}", inflows=w_in, outflows=w_out, units="person",
                non_negative=True, doc=f"People aged {band} without a care need.")
        m.stock(need, initial=f"initial_need_{bk}", inflows=n_in, outflows=n_out, units="person",
                non_negative=True, doc=f"People aged {band} with a care need.")
        m.flow(f"onset {band} flow", f"{wk} * onset_{bk} * (1 - onset_cut) * f_prevention({prevention_index})"
               f"{per_time}", units=flow_units, doc=f"New care needs, aged {band}.")
        m.flow(f"deaths well {band}", f"{wk} * mortality_{bk} * exp(-mortality_improvement * {years}){per_time}",
               units=flow_units, doc=f"Deaths, well, {band}.")
        m.flow(f"deaths need {band}", f"{nk} * mortality_{bk} * exp(-mortality_improvement * {years}) "
               f"* need_mortality_multiplier{per_time}", units=flow_units, doc=f"Deaths, in need, {band}.")
        if k < 2:
            m.flow(f"ageing well {band}", f"{wk} / band_{bk}_years{per_time}", units=flow_units,
                   doc=f"Ageing out of {band}, well.")
            m.flow(f"ageing need {band}", f"{nk} / band_{bk}_years{per_time}", units=flow_units,
                   doc=f"Ageing out of {band}, in need.")
