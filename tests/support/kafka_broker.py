"""A private Apache Kafka broker for outage tests: the jars of ``make services``, its own port.

Stopping the shared broker would break whatever else runs against it at the same time, so a
test that needs the broker to go away and come back starts one of its own: a single KRaft node
(broker + controller) on loopback, in a temporary folder, on ports below Linux's ephemeral range
(32768-60999) so that no outgoing connection can hold them between a stop and a start.

``with KafkaBroker(folder) as broker:`` formats and starts it; ``broker.stop()`` kills it (the
data stays), ``broker.start()`` starts it again and returns once it serves metadata;
``broker.bootstrap`` is the ``KAFKA_BOOTSTRAP_SERVERS`` value.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from kafka.admin import KafkaAdminClient

from tests.support.ports import free_low_port

PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=2
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# A restarted node re-registers once its previous session expired: keep that short.
broker.session.timeout.ms=1000
broker.heartbeat.interval.ms=250
num.network.threads=1
num.io.threads=2
"""
LOG4J = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
"""


def kafka_libs() -> Path:
    """The broker's jars, as ``scripts/services.sh`` fetched them."""
    home = os.environ.get("MAILERLOGIC_KAFKA_HOME") or str(Path(__file__).parents[2] / ".services/kafka")
    libs = Path(home) / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"no Kafka jars in {libs}: run `make services` first")
    return libs


def cluster_id() -> str:
    """A random KRaft cluster id (a UUID in URL-safe base64) that cannot be read as an option.

    One id in 64 starts with ``-``, which the storage tool's argument parser takes for a flag
    (exit 1; seen once in CI).
    """
    for _ in range(100):
        candidate = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
    raise RuntimeError("no cluster id without a leading '-' in 100 draws")


class KafkaBroker:
    """One KRaft node of our own in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.libs = folder, kafka_libs()
        self.port = free_low_port(2)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.properties").write_text(
            PROPERTIES.format(port=self.port, controller=self.port + 1, data=folder / "data"))
        (folder / "log4j2.properties").write_text(LOG4J)
        formatted = subprocess.run([*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id(),
                                    "-c", str(folder / "server.properties"), "--ignore-formatted"],
                                   capture_output=True, timeout=60, check=False)
        if formatted.returncode:
            raise RuntimeError(f"kafka-storage format exited {formatted.returncode}: "
                               f"{(formatted.stdout + formatted.stderr).decode(errors='replace')[-2000:]}")

    def _java(self) -> list[str]:
        return ["java", "-Xms128m", "-Xmx384m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
                "-cp", f"{self.libs}/*"]

    def start(self, wait_s: float = 60.0) -> float:
        """Start the broker; returns ``time.monotonic()`` of its first metadata answer."""
        log = (self.folder / "kafka.log").open("ab")
        command = [*self._java(), "kafka.Kafka", str(self.folder / "server.properties")]
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log.close()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the broker exited: see {self.folder / 'kafka.log'}")
            if self.answers():
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"the broker did not answer within {wait_s:.0f}s")

    def answers(self) -> bool:
        """True when a metadata request (listing the topics) succeeds right now."""
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=1000,
                                     reconnect_backoff_max_ms=100)
        except Exception:  # noqa: BLE001 - not listening yet
            return False
        try:
            admin.list_topics()
            return True
        except Exception:  # noqa: BLE001 - up but not serving metadata yet
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        """Kill the broker (SIGKILL: an outage, not a maintenance window); its data stays."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
        self._process = None

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
