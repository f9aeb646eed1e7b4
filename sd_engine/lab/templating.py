"""HTML from jinja2 templates shipped as package data (the report's and the app's).

Templates escape every value by default (autoescape), so names and descriptions from a model
or a scenario file cannot inject markup; a value that *is* markup (an embedded figure) is
passed through ``markupsafe.Markup`` by the code that made it.

>>> "<td" in render("sd_engine.app", "scorecard.html.j2", rows=[], fmt=str, has_profile=False, n_runs=2,
...                 baseline="defaults") or True
True
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["render", "environment"]


@functools.lru_cache(maxsize=None)
def environment(package: str) -> Any:
    """The jinja2 environment of `package`'s ``templates`` folder (cached)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader(package, "templates"),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(package: str, name: str, **context: Any) -> str:
    """Render template `name` of `package` (e.g. ``"sd_engine.lab"``, ``"report.html.j2"``)."""
    return str(environment(package).get_template(name).render(**context))
