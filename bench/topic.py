"""Bench topics: create one, load a cached data set into it with kcat, count it, delete it."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartition
from tqdm import tqdm

PARTITIONS = 4
# librdkafka's murmur2 partitioner is the one of the Java and kafka-python producers (the relay).
PRODUCE_OPTIONS = ("-X", "topic.partitioner=murmur2_random", "-X", "linger.ms=50",
                   "-X", "batch.num.messages=50000", "-X", "batch.size=4000000",
                   "-X", "queue.buffering.max.messages=1000000",
                   "-X", "queue.buffering.max.kbytes=2097151")
log = logging.getLogger(__name__)


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench", request_timeout_ms=15_000)


def create(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    """A new topic, returned once every partition has a leader."""
    admin = _admin(bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}},
                            wait_for_metadata=True)
    finally:
        admin.close()


def end_offsets(consumer: KafkaConsumer, topic: str) -> dict[int, int]:
    """Per partition, the offset after the last record."""
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}


def load(bootstrap: str, topic: str, path: Path, count: int, timeout_s: float) -> float:
    """Produce every line of ``path`` (``key\\tvalue``) with kcat; returns the seconds it took."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-offsets",
                             enable_auto_commit=False)
    command = ["kcat", "-P", "-q", "-b", bootstrap, "-t", topic, "-K", "\t", "-l", *PRODUCE_OPTIONS,
               str(path)]
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        with tqdm(total=count, desc=f"load {topic}", unit="ev", unit_scale=True, leave=False) as bar, \
                subprocess.Popen(command, stderr=subprocess.PIPE) as kcat:
            while kcat.poll() is None and time.monotonic() < deadline:
                bar.update(sum(end_offsets(consumer, topic).values()) - bar.n)
                time.sleep(0.5)
            if kcat.poll() is None:
                kcat.kill()
                raise TimeoutError(f"kcat -P did not finish in {timeout_s:.0f}s")
            if kcat.returncode != 0:
                raise RuntimeError(f"kcat -P failed: {kcat.stderr.read().decode() if kcat.stderr else ''}")
        elapsed = time.monotonic() - start
        loaded = sum(end_offsets(consumer, topic).values())
    finally:
        consumer.close()
    if loaded != count:
        raise RuntimeError(f"{topic} holds {loaded} records, expected {count}")
    return elapsed


def delete(bootstrap: str, topics: list[str], groups: list[str]) -> None:
    """Delete the run's topics and consumer groups; failures are only logged."""
    admin = _admin(bootstrap)
    try:
        for name in topics:
            try:
                admin.delete_topics([name], timeout_ms=10_000)
            except Exception as exc:  # noqa: BLE001 - cleanup is best effort
                log.info("deleting topic %s failed: %r", name, exc)
        try:
            admin.delete_groups(groups)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort
            log.info("deleting groups %s failed: %r", groups, exc)
    finally:
        admin.close()
