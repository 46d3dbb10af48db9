"""TODO(merge): findings whose fix belongs to another branch of issue 11; drop each entry when it lands.

An entry names the input class, the branch fixing it, and a predicate on the failing case and
the failure's title. A matching failure is counted and printed (``known open``) and does not fail
the run; every other failure does. Keep each predicate as narrow as the class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from schemathesis import Case

_BOUNCE_ONLY = ("code", "type", "status")


def _complaint_with_bounce_fields(case: Case, title: str) -> bool:
    """Issue 11 input branch (commands/reports.py): a JSON *complaint* ignores the bounce-only fields
    ``code``, ``type`` and ``status`` whatever they hold (``{"code": -6.7e-161}`` is accepted), while
    the shared JsonReport schema types them; the parser should refuse them malformed (400)."""
    items: Any = case.body if isinstance(case.body, list) else [case.body]
    return (title == "Schema-violating request accepted" and case.path_parameters is not None
            and case.path_parameters.get("kind") == "complaint"
            and any(isinstance(item, dict) and set(item) & set(_BOUNCE_ONLY) for item in items))


KNOWN_OPEN: dict[str, Callable[[Case, str], bool]] = {
    "complaint JSON accepts malformed bounce-only fields (input branch, commands/reports.py)":
        _complaint_with_bounce_fields,
}


def known_open(case: Case, title: str) -> str | None:
    """The name of the open class this failure of ``case`` belongs to, if any."""
    return next((name for name, matches in KNOWN_OPEN.items() if matches(case, title)), None)
