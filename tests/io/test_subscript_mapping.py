"""Vensim's subscript mapping element by element, ``Zone: z1, z2 -> (Region: Coast, north)``:
each entry is the element or subrange of the destination that one source element maps onto
(an equation over ``Region`` reads ``x[Zone]`` at the zone mapped onto each region). Values
are worked out by hand from the small model; a mapping that leaves an element without one
source, or lists the wrong number of entries, is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError

MODEL = Path(__file__).parent / "models" / "element_mapping.mdl"
CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 1 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = 1 ~~|\n"


@pytest.fixture(scope="module")
def mapped() -> object:
    with pytest.warns(UserWarning, match="Subscript mapping"):  # PySD's parser warns; sdflow reads it
        return sd.load(MODEL).run()


def first(ds: object, name: str) -> list[float]:
    return ds[name].isel(time=0).values.tolist()  # type: ignore[index, no-any-return]


def test_a_subrange_entry_maps_each_of_its_elements(mapped: object) -> None:
    # Zone rates 10, 20; z1 -> Coast (south, east), z2 -> north; doubled. Regions: north, south, east.
    assert first(mapped, "regional rate") == [40.0, 20.0, 20.0]


def test_entries_in_another_order_and_a_positional_mapping_beside(mapped: object) -> None:
    # b1 -> east, b2 -> south, b3 -> north; band sizes 1, 2, 3.
    assert first(mapped, "by region") == [3.0, 2.0, 1.0]
    # `Band -> Tier` is positional: b1 -> t1, ...
    assert first(mapped, "by tier") == [1.0, 2.0, 3.0]


def test_element_blocks_read_the_mapped_element(mapped: object) -> None:
    # :EXCEPT: [north]: south = by region 2 + zone z1 10; east = 1 + 10; north = 0.
    assert first(mapped, "inland extra") == [0.0, 12.0, 11.0]
    np.testing.assert_array_equal(mapped["inland extra"].isel(time=1).values, [0.0, 12.0, 11.0])  # type: ignore[index]


def write(tmp_path: Path, ranges: str, body: str) -> Path:
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\nRegion: north, south, east ~~|\n" + ranges + body + CONTROL)
    return path


def test_an_element_no_source_maps_onto_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Zone: z1, z2 -> (Region: south, north) ~~|\n",
                 "zone rate[Zone] = 10, 20 ~~|\nx[Region] = zone rate[Zone] ~~|\n")
    with pytest.raises(UnsupportedError, match=r"`Zone` \(defined at line 3\) maps onto `east` through none or several"), \
            pytest.warns(UserWarning):
        sd.load(path)


def test_an_element_two_sources_map_onto_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Zone: z1, z2 -> (Region: north, north) ~~|\n",
                 "zone rate[Zone] = 10, 20 ~~|\nx[Region] = zone rate[Zone] ~~|\n")
    with pytest.raises(UnsupportedError, match=r"`Zone` \(defined at line 3\) maps onto `north` through none or several"), \
            pytest.warns(UserWarning):
        sd.load(path)


def test_a_mapping_with_the_wrong_number_of_entries_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Zone: z1, z2, z3 -> (Region: south, north) ~~|\n",
                 "zone rate[Zone] = 10, 20, 30 ~~|\nx[Region] = zone rate[Zone] ~~|\n")
    with pytest.raises(UnsupportedError,
                       match=r"`Zone` \(defined at line 3\) maps onto `Region` with 2 entries for its 3 elements"), \
            pytest.warns(UserWarning):
        sd.load(path)


def test_an_entry_outside_the_destination_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Zone: z1, z2 -> (Region: south, west) ~~|\n",
                 "zone rate[Zone] = 10, 20 ~~|\nx[Region] = zone rate[Zone] ~~|\n")
    with pytest.raises(UnsupportedError, match=r"maps `z2` onto `west`, which is not an element"), \
            pytest.warns(UserWarning):
        sd.load(path)


def test_a_mapping_continued_on_the_next_line(tmp_path: Path) -> None:
    # Vensim breaks long lines with a backslash (C-LEARN's `Semi Agg: ... ->(COP: ..., X\` newline `)`).
    path = write(tmp_path, "Zone: z1, z2\n\t->(Region: Coast, north\\\n\t\t) ~~|\nCoast: south, east ~~|\n",
                 "zone rate[Zone] = 10, 20 ~~|\nx[Region] = zone rate[Zone] ~~|\n")
    with pytest.warns(UserWarning):
        ds = sd.load(path).run()
    assert first(ds, "x") == [20.0, 10.0, 10.0]
