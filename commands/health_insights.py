"""The words of a health score (spec §11): summary, recommendations, critical alarms. Pure.

The numbers, and the formula's documentation, are in :mod:`commands.health_score`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from commands.health_score import Component
    from commands.health_score import Rule

ADVICE = {
    "bounce": "remove hard-bounced and invalid addresses and validate lists before sending",
    "complaint": "send only to opted-in recipients, make unsubscribing easy and send less often",
    "delivery": "check SPF, DKIM and DMARC on your sending domains and stop sending to failing addresses",
    "opens": "improve subject lines and sender name, and send to recently engaged recipients",
    "clicks": "give each email one clear call to action and target content to each segment",
}


def alarms(values: Mapping[str, float]) -> list[str]:
    """Why the status is critical whatever the score: bounces over 10 %, complaints over 1 %."""
    bounce, complaint = values["bounce_rate"], values["complaint_rate"]
    found = [f"bounce rate {bounce}% is above 10%, where sending may be paused"] if bounce > 10 else []
    if complaint > 1:
        found.append(f"complaint rate {complaint}% is above 1%, where the account may be suspended")
    return found


def advice(rule: Rule, component: Component) -> str:
    """The recommendation for a component outside its good band."""
    target = f"{'under' if rule.poor > rule.good else 'at least'} {rule.good}%"
    metric = rule.metric.replace("_", " ").capitalize()
    return f"{metric} is {component.value}% ({component.band}): {ADVICE[rule.name]}, to get it {target}."


def summary(
    overall: float, grade: str, status: str, alarms: list[str], components: tuple[Component, ...]
) -> str:
    """One sentence: the alarms, else the status with the component that loses the most points."""
    if alarms:
        return f"Critical: {' and '.join(alarms)}."
    head = f"Health is {status} at {overall}/100 (grade {grade})"
    weak = [c for c in components if c.band != "good"]
    if not weak:
        return f"{head}, with every component in its good band."
    worst = max(weak, key=lambda c: (100 - c.score) * c.weight)  # the most points lost
    return f"{head}; the weakest area is {worst.name} ({worst.metric.replace('_', ' ')} {worst.value}%)."
