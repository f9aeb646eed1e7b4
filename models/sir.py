"""SIR: susceptible - infectious - recovered epidemic in a closed population.

Identical to the SDXorg test model ``samples/SIR/SIR.mdl`` (population 1000, five
initial infections, contact infectivity 0.3 per day, five days infectious; Euler
with dt = 0.03125 over 100 days). Loops: R1 contagion (infectious -> succumbing ->
infectious), B1 depletion (susceptible -> succumbing -> susceptible), B2 recovery.
The total population is conserved.
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'contagion': ['infectious', 'succumbing'],
    'depletion': ['susceptible', 'succumbing'],
    'recovery': ['infectious', 'recovering'],
}

def build() -> Model:
    m = Model("SIR", time_units="Day", initial_time=0, final_time=100, dt=0.03125, doc=__doc__ or "")
    m.constant("Contact Infectivity", 0.3, units="Persons/Persons/Day",
               doc="How many people you contact and how likely you are to infect them.")
    m.constant("Duration", 5, units="Days", doc="How long are you infectious for?")
    m.constant("Total Population", 1000, units="Persons")
    m.stock("Susceptible", initial="total_population", outflows=["Succumbing"], units="Persons",
            doc="The population that has not yet been infected.")
    m.stock("Infectious", initial=5, inflows=["Succumbing"], outflows=["Recovering"], units="Persons",
            doc="The population with the disease, able to transmit it.")
    m.stock("Recovered", initial=0, inflows=["Recovering"], units="Persons",
            doc="People who have recovered; nobody dies in this model.")
    m.flow("Succumbing", "susceptible * infectious / total_population * contact_infectivity",
           units="Persons/Day")
    m.flow("Recovering", "infectious / duration", units="Persons/Day")
    return m
