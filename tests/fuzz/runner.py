"""Drive schemathesis over every operation of the app's own OpenAPI document, and keep score.

For each operation and each generation mode (schema-valid and schema-invalid input) one
Hypothesis run generates cases from a fixed seed, sends each to the WSGI app in this process
and applies the checks of :func:`_checks` to the answer. A failed check is a :class:`Finding`,
kept with the first input that showed it. The budget of cases is spread over the operations; an
operation whose inputs run out before its share hands the rest to the others in a further round.
The seed is fixed (:data:`SEED`), so a run's inputs are the same each time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

import schemathesis
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import seed
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure
from schemathesis.core.failures import FailureGroup

if TYPE_CHECKING:
    from schemathesis import APIOperation
    from schemathesis import BaseSchema
    from schemathesis import Case
    from schemathesis import Response

    from tests.fuzz.target import Target

SEED = 20261101
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@schemathesis.check
def error_answer_is_json(ctx: Any, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is ``{"error", "message"}`` JSON, unless the document names another media type."""
    if response.status_code < 400:
        return None
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code), {})
    media = set(_resolve(case.operation.schema.raw_schema, documented).get("content", {}))
    if media and "application/json" not in media:
        return None  # e.g. the pixel's GIF on a forged token (spec §13)
    kind = (response.headers.get("content-type") or [""])[0].partition(";")[0].strip()
    body = response.json() if kind == "application/json" else None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str)
            and isinstance(body.get("message"), str)):
        raise AssertionError(f"{response.status_code} answered {kind or 'no content type'}, "
                             f"not the JSON error shape: {response.content[:200]!r}")
    return True


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    found: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


def _checks() -> list[Callable[..., Any]]:
    from schemathesis import checks as c

    # positive_data_acceptance is left out: rules that JSON Schema cannot say (a host name that
    # IDNA accepts, "html or text", a business refusal's 422) make valid-looking input a 4xx.
    names = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
             "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
             "missing_required_header", "ignored_auth")
    return [getattr(c, name) for name in names] + [error_answer_is_json]


@dataclass
class Finding:
    """One kind of failure on one operation, with the first input that showed it."""

    operation: str
    failure: str
    status: int
    curl: str
    answer: str
    count: int = 1

    def __str__(self) -> str:
        return (f"{self.operation}: {self.failure} (x{self.count}, {self.status})\n"
                f"    {self.curl}\n    -> {self.answer}")


@dataclass
class Score:
    """What the run did: cases sent, findings, time taken."""

    cases: int = 0
    findings: dict[tuple[str, str, int], Finding] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> str:
        """Counts, time and every finding."""
        lines = [f"fuzz: {self.cases} cases in {self.seconds:.0f} s, {len(self.findings)} findings "
                 f"({sum(f.count for f in self.findings.values())} failing cases)"]
        return "\n".join(lines + [str(finding) for finding in self.findings.values()])


def run(schema: BaseSchema, target: Target, cases: int) -> Score:
    """At least ``cases`` cases (fewer only if every operation runs out of inputs)."""
    score, started = Score(), time.monotonic()
    checks = _checks()
    register_auth(schema, target)
    work = [(op, mode) for op in operations(schema) for mode in MODES]
    for round_ in range(10):
        if score.cases >= cases or not work:
            break
        share = math.ceil((cases - score.cases) / len(work))
        ran = [(op, mode, _fuzz(op, mode, share, round_, target, checks, score)) for op, mode in work]
        work = [(op, mode) for op, mode, n in ran if n >= share]  # the others have no more inputs
    score.seconds = time.monotonic() - started
    return score


def operations(schema: BaseSchema) -> Iterator[APIOperation]:
    """Every operation of the document (a broken one fails the run)."""
    for result in schema.get_all_operations():
        yield result.ok()


def register_auth(schema: BaseSchema, target: Target) -> None:
    """The customer's key (as rotated by the fuzzer), or the operator token under ``/operator``."""

    class Bearer:
        def get(self, case: Case, ctx: Any) -> str:
            return target.auth(case.operation.path)

        def set(self, case: Case, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.auth(refresh_interval=None)(Bearer)


def _fuzz(operation: APIOperation, mode: GenerationMode, budget: int, round_: int, target: Target,
          checks: list[Callable[..., Any]], score: Score) -> int:
    """One Hypothesis run of at most ``budget`` cases; how many it sent."""
    sent = 0
    strategy = _strategy(operation, mode, target)
    if strategy is None:
        return 0

    @seed(SEED + round_)
    @settings(max_examples=budget, derandomize=False, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=strategy)
    def one(case: Case) -> None:
        nonlocal sent
        sent += 1
        _call(case, target, checks, score)

    try:
        one()
    except Unsatisfiable:  # e.g. nothing to make invalid in an operation without input
        pass
    return sent


def _strategy(operation: APIOperation, mode: GenerationMode, target: Target) -> Any:
    """The operation's cases in ``mode``, half of them on real objects; None when it has none."""
    try:
        strategy = operation.as_strategy(generation_mode=mode, auth_storage=operation.schema.auth)
    except Exception:  # noqa: BLE001 - e.g. nothing to make invalid in an operation without input
        return None
    real = target.real_path_parameters(operation.method, [p.name for p in operation.path_parameters])
    if not real or mode is GenerationMode.NEGATIVE:
        return strategy

    def on_real_objects(case: Case) -> Any:
        values = {name: st.sampled_from(ids) for name, ids in real.items()}
        return st.fixed_dictionaries(values).map(lambda chosen: _with_path(case, chosen))

    return st.one_of(strategy, strategy.flatmap(on_real_objects))


def _with_path(case: Case, chosen: dict[str, str]) -> Case:
    case.path_parameters = {**(case.path_parameters or {}), **chosen}
    return case


def _call(case: Case, target: Target, checks: list[Callable[..., Any]], score: Score) -> None:
    response = case.call()
    score.cases += 1
    target.observe(case.operation.path, response.status_code, _json(response))
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as group:
        _record(case, response, group.exceptions, score)
    except AssertionError as failure:
        _record(case, response, (failure,), score)


def _record(case: Case, response: Response, failures: tuple[BaseException, ...], score: Score) -> None:
    for failure in failures:
        title = failure.title if isinstance(failure, Failure) else str(failure).partition("\n")[0]
        key = (case.operation.label, title, response.status_code)
        if key in score.findings:
            score.findings[key].count += 1
            continue
        score.findings[key] = Finding(case.operation.label, title, response.status_code,
                                      case.as_curl_command(), repr(response.content[:300]))


def _json(response: Response) -> Any:
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - not JSON: nothing to observe
        return None
