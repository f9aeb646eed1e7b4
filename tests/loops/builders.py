"""Models for the loop-analysis tests, built with the sd_engine builder."""

from __future__ import annotations

from sd_engine.builder import Model


def logistic(dt: float = 1.0) -> Model:
    """Reference document A1.4: P(0) = 5, r = 0.12, K = 1000, Euler, t = 0..100."""
    m = Model("logistic", final_time=100, dt=dt)
    m.constant("r", 0.12)
    m.constant("K", 1000)
    m.stock("P", initial=5, inflows=["net growth"])
    m.aux("g", "r * (1 - p / k)")
    m.flow("net growth", "g * p")
    return m


def bass(adoption_fraction: float = 0.015) -> Model:
    """Reference document A1.5: Bass diffusion, no advertising, Euler dt = 1/16, t = 0..15."""
    m = Model("bass diffusion", final_time=15, dt=1 / 16)
    m.constant("N", 1_000_000)
    m.constant("c", 100)
    m.constant("adoption fraction", adoption_fraction)
    m.stock("Potential Adopters", initial=999_999, outflows=["adopting"])
    m.stock("Adopters", initial=1, inflows=["adopting"])
    m.aux("adopter contacts", "c * adopters")
    m.aux("probability of contact with potentials", "potential_adopters / n")
    m.aux("potentials contacts with adopters", "adopter_contacts * probability_of_contact_with_potentials")
    m.flow("adopting", "potentials_contacts_with_adopters * adoption_fraction")
    return m


def bass_published() -> Model:
    """The Bass diffusion model of Schoenberg, Davidsen & Eberlein (2020), Fig. 2, for Table 3.

    The variables and loops are the paper's (its B1 and R1 run through ``adoption from word of
    mouth``); dt = 1/16 and the equations are the reconstruction that reproduces every value of
    Table 3 (the paper gives the set-up, not dt).
    """
    m = Model("bass diffusion (LTM 2020)", final_time=15, dt=1 / 16)
    m.constant("market size", 1_000_000)
    m.constant("contact rate", 100)
    m.constant("adoption fraction", 0.015)
    m.stock("Potential Adopters", initial=999_999, outflows=["adopting"])
    m.stock("Adopters", initial=1, inflows=["adopting"])
    m.aux("adopter contacts", "contact_rate * adopters")
    m.aux("probability of contact with potentials", "potential_adopters / market_size")
    m.aux("potentials contacts with adopters", "adopter_contacts * probability_of_contact_with_potentials")
    m.aux("adoption from word of mouth", "potentials_contacts_with_adopters * adoption_fraction")
    m.flow("adopting", "adoption_from_word_of_mouth")
    return m


def yeast() -> Model:
    """Reference document A1.5: yeast and alcohol, Euler dt = 0.5, t = 0..100."""
    m = Model("yeast", final_time=100, dt=0.5)
    m.stock("Cells", initial=1, inflows=["births"], outflows=["deaths"])
    m.stock("Alcohol", initial=0, inflows=["alcohol production"])
    m.flow("births", "cells * (1.1 - 0.1 * alcohol) / 16")
    m.flow("deaths", "cells * exp(alcohol - 11) / 30")
    m.flow("alcohol production", "0.01 * cells")
    return m


def arms_race() -> Model:
    """Reference document A3: three-party arms race (9 nodes, 15 links)."""
    m = Model("arms race", final_time=100, dt=0.25)
    m.constant("adjustment time", 5)
    desired = {"a": "(b + 0.9 * c) / 2", "b": "(a + 1.1 * c) / 2", "c": "(1.1 * a + 0.9 * b) / 2"}
    for x, init in (("a", 50), ("b", 100), ("c", 150)):
        m.stock(x.upper(), initial=init, inflows=[f"change {x}"])
        m.aux(f"desired {x}", desired[x])
        m.flow(f"change {x}", f"(desired_{x} - {x}) / adjustment_time")
    return m
