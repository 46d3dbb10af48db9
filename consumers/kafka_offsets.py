"""Reset a Kafka consumer group's committed offsets (``mailerlogic projections reset-offsets``).

Kafka refuses offset commits from outside a group that has members, and a member would carry on
from the positions it holds in memory anyway, so the reset is refused while the group has any
(:class:`GroupActive`): stop its consumers first. The new offsets (the partition's earliest or
latest, resolved by the broker) are committed with the admin client's OffsetCommit for an empty
group; a consumer that joins afterwards starts from them. Consumers are exact under redelivery,
so going back to the earliest offset replays without changing a number.
"""

from __future__ import annotations

from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.admin import OffsetSpec
from kafka.errors import NoError
from kafka.structs import TopicPartition

SPECS = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST}
IDLE_STATES = ("Empty", "Dead", "")


class GroupActive(Exception):
    """The group has members: its offsets cannot be reset now."""


def reset(bootstrap: str, topic: str, group: str, to: str) -> dict[int, int]:
    """Commit ``group``'s offsets on every partition of ``topic`` at ``to``; partition -> offset."""
    if to not in SPECS:
        raise ValueError(f"reset to earliest or latest, not {to!r}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="mailerlogic-reset-offsets")
    try:
        members, state = _members(admin, group)
        if members:
            raise GroupActive(f"consumer group {group!r} has {len(members)} active member(s) "
                              f"({state}: {', '.join(sorted(members))}); stop them, then reset")
        partitions = _partitions(admin, topic)
        answer = admin.reset_group_offsets(group, {tp: SPECS[to] for tp in partitions})
    finally:
        admin.close()
    failed = {tp.partition: result["error"].__name__ for tp, result in answer.items()
              if result["error"] is not NoError}
    if failed:
        raise RuntimeError(f"Kafka refused the reset of {group!r} on partitions {failed}")
    return {tp.partition: int(result["offset"]) for tp, result in sorted(answer.items())}


def _members(admin: KafkaAdminClient, group: str) -> tuple[list[str], str]:
    described: dict[str, Any] = admin.describe_groups([group])
    info = described.get(group) or {}
    members = info.get("members") or []
    return [str(m["member_id"]) for m in members], str(info.get("group_state") or "")


def _partitions(admin: KafkaAdminClient, topic: str) -> list[TopicPartition]:
    metadata = admin.describe_topics([topic])
    found = [TopicPartition(topic, p["partition_index"]) for t in metadata
             if t["name"] == topic and not t["error_code"] for p in t["partitions"]]
    if not found:
        raise ValueError(f"topic {topic!r} does not exist (or has no partitions)")
    return sorted(found)
