"""Teacup: a cup of tea cooling towards room temperature (exponential decay, goal seeking).

The classic first system-dynamics model, identical to the SDXorg test model
``samples/teacup/teacup.mdl``: one stock, one balancing loop (temperature -> heat
loss -> temperature), time in minutes, Euler with dt = 0.125 over 30 minutes.
Analytic solution: T(t) = room + (T0 - room) * exp(-t / characteristic time).
"""

from sd_engine.builder import Model


#: Named feedback loops (variables on each loop, in causal order); `model.loops()` uses the names.
LOOPS = {
    'cooling': ['teacup_temperature', 'heat_loss_to_room'],
}

def build() -> Model:
    m = Model("teacup", time_units="Minute", initial_time=0, final_time=30, dt=0.125,
              doc=__doc__ or "")
    m.constant("Characteristic Time", 10, units="Minutes",
               doc="How long will it take the teacup to cool 1/e of the way to equilibrium?")
    m.constant("Room Temperature", 70, units="Degrees Fahrenheit")
    m.stock("Teacup Temperature", initial=180, outflows=["Heat Loss to Room"], units="Degrees Fahrenheit",
            doc="The model is only valid for the liquid phase of tea.")
    m.flow("Heat Loss to Room", "(teacup_temperature - room_temperature) / characteristic_time",
           units="Degrees Fahrenheit/Minute",
           doc="The rate at which heat flows from the cup into the room.")
    return m
