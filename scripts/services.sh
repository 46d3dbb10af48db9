#!/usr/bin/env bash
# Local services for the MailerLogic test suite, all on 127.0.0.1 only:
#
#   PostgreSQL 15  (event store)  127.0.0.1:25432   db/user/password: mailerlogic
#   ClickHouse     (analytics)    127.0.0.1:29000 (native), 127.0.0.1:28123 (HTTP)
#   Apache Kafka 4 (KRaft, single combined broker+controller)
#                                 127.0.0.1:29092 (clients), 127.0.0.1:29093 (controller)
#
# Everything (data, logs, pid files, the Maven cache and the Kafka jars) lives in
# <repo>/.services/, which ignores itself (.services/.gitignore is "*").
# Missing software is installed by package name (apt-get / mvn), so this works on a
# brand-new Debian 12 machine, as root, without systemd, docker or stdin (CI=true).
#
# Usage: scripts/services.sh <command>
#   start        install what is missing, start the services that are not running,
#                wait until each one answers, write .services/env and print it.
#                Idempotent: running services are left alone.
#   stop         stop the services this script started (recorded in .services/run/*.pid).
#   status       print up/down for each service (exit 1 if any is down).
#   env          write .services/env and print its `export` lines (starts nothing).
#                Use as:  eval "$(scripts/services.sh env)"
#   kafka-stop   stop only the Kafka broker (clean shutdown, data kept). For outage tests.
#   kafka-start  start only the Kafka broker again and wait until it serves metadata.
#   clickhouse-stop   stop only the ClickHouse server (clean shutdown, data kept). For outage tests.
#   clickhouse-start  start only the ClickHouse server again and wait until it answers 'SELECT 1'.
#
# Progress messages go to stderr; stdout carries only the `export` lines, so
# `eval "$(scripts/services.sh start)"` also works.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC="$ROOT/.services"
RUN="$SVC/run"
SCRIPT_PATH="$ROOT/scripts/services.sh"

# Below 32768: Linux's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999) hands
# ports above it to outgoing connections, which could hold a service's port when it starts.
PG_PORT=25432
CH_TCP_PORT=29000
CH_HTTP_PORT=28123
KAFKA_PORT=29092
KAFKA_CONTROLLER_PORT=29093

PG_WAIT=60
CH_WAIT=60
KAFKA_WAIT=90
STOP_WAIT=30

PG_DIR="$SVC/pg"
CH_DIR="$SVC/clickhouse"
KAFKA_DIR="$SVC/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_POM="$ROOT/scripts/kafka-pom.xml"
M2_REPO="$SVC/m2"

export DEBIAN_FRONTEND=noninteractive

# --------------------------------------------------------------------------- helpers

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE runs and its command line
# contains PATTERN (so a recycled pid of an unrelated process is never mistaken for ours).
pid_alive() {
    local pidfile=$1 pattern=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"; then
        return 0
    fi
    adopt_pid "$pidfile" "$pattern"
}

# adopt_pid PIDFILE PATTERN: the recorded pid is gone, but `setsid` forks when its caller leads
# a process group (a job-controlling shell), so the server may run under a child pid: find
# our user's process whose command line holds PATTERN (a path under .services, unique to this
# checkout) and record it instead.
adopt_pid() {
    local pidfile=$1 pattern=$2 found
    found=$(pgrep -u "$(id -u)" -o -f -- "$(printf '%s' "$pattern" | sed 's/[][\.*^$+?(){}|]/\\&/g')" \
        2>/dev/null) || return 1
    [[ $found =~ ^[0-9]+$ && $found != "$$" ]] || return 1
    echo "$found" >"$pidfile"
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM, bounded wait, then SIGKILL. Only touches
# the process recorded in PIDFILE, and only if it still is ours.
stop_pid() {
    local name=$1 pidfile=$2 pattern=$3 pid i
    if ! pid_alive "$pidfile" "$pattern"; then
        rm -f "$pidfile"
        log "$name: not running (nothing to stop)"
        return 0
    fi
    pid=$(<"$pidfile")
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_WAIT * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: still alive after ${STOP_WAIT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    fi
    rm -f "$pidfile"
    log "$name: stopped"
}

# fail_with_log NAME LOGFILE MESSAGE: print the log tail and exit non-zero.
fail_with_log() {
    local name=$1 logfile=$2 msg=$3
    echo "[services] ERROR: $name: $msg" >&2
    if [[ -f $logfile ]]; then
        echo "[services] ---- last lines of $logfile ----" >&2
        tail -n 40 "$logfile" >&2 || true
        echo "[services] ----" >&2
    fi
    exit 1
}

# rotate_log FILE: keep the previous run's log as FILE.1.
rotate_log() {
    [[ -f $1 ]] && mv -f "$1" "$1.1"
    return 0
}

APT_UPDATED=0
apt_install() {
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update"
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@" </dev/null >&2
}

ensure_dirs() {
    mkdir -p "$SVC" "$RUN"
    # The folder ignores itself, whatever the repository's .gitignore says.
    [[ -f $SVC/.gitignore ]] || echo '*' >"$SVC/.gitignore"
}

# ------------------------------------------------------------------------ PostgreSQL

PG_PIDFILE="$RUN/postgres.pid"
PG_BIN=""
PG_REAL="$PG_DIR"       # $PG_DIR with the fallback symlink resolved
PG_DATA="$PG_DIR/data"

pg_paths() {
    if [[ -e $PG_DIR ]]; then PG_REAL=$(readlink -f "$PG_DIR"); else PG_REAL=$PG_DIR; fi
    PG_DATA="$PG_REAL/data"
}

pg_install() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        apt_install postgresql
    fi
    PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    command -v psql >/dev/null || apt_install postgresql-client
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# The server runs as user `postgres`, which must be able to reach its data folder.
# If the repository sits somewhere postgres cannot enter (e.g. under /root), keep the
# cluster in /var/lib/postgresql and leave a symlink at .services/pg.
pg_layout() {
    if [[ ! -e $PG_DIR ]]; then
        mkdir -p "$PG_DIR"
        chown postgres:postgres "$PG_DIR"
        chmod 700 "$PG_DIR"
        if ! as_postgres test -w "$PG_DIR"; then
            rmdir "$PG_DIR"
            local alt
            alt="/var/lib/postgresql/mailerlogic-services-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
            log "postgres: user postgres cannot reach $SVC; keeping the cluster in $alt (symlinked from $PG_DIR)"
            # A fresh .services means a fresh cluster: drop leftovers of an earlier checkout here.
            if [[ -d $alt ]]; then
                as_postgres "$PG_BIN/pg_ctl" -D "$alt/data" status >/dev/null 2>&1 \
                    && die "postgres: a server still runs on the old $alt/data; stop it first ($PG_BIN/pg_ctl -D $alt/data stop)"
                rm -rf "$alt"
            fi
            mkdir -p "$alt"
            chown postgres:postgres "$alt"
            chmod 700 "$alt"
            ln -s "$alt" "$PG_DIR"
        fi
    fi
    pg_paths
}

pg_init() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    log "postgres: initdb $PG_DATA"
    as_postgres mkdir -p "$PG_REAL/run"
    as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$PG_REAL/initdb.log" 2>&1 \
        || fail_with_log postgres "$PG_REAL/initdb.log" "initdb failed"
    local sockdir="$PG_REAL/run"
    # A unix socket path is limited to ~107 bytes; without one we use TCP only.
    (( ${#sockdir} > 90 )) && sockdir=""
    cat >>"$PG_DATA/postgresql.conf" <<EOF

# ---- MailerLogic test cluster (scripts/services.sh) ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = 128MB
# Throwaway test data: trade crash safety for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
EOF
    # Trust on loopback only (initdb's default pg_hba.conf is local + 127.0.0.1 + ::1).
    cat >"$PG_DATA/pg_hba.conf" <<EOF
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
host    all   all   ::1/128       trust
local   replication   all                 trust
host    replication   all   127.0.0.1/32  trust
EOF
    chown postgres:postgres "$PG_DATA/postgresql.conf" "$PG_DATA/pg_hba.conf"
}

pg_running() {
    pid_alive "$PG_PIDFILE" "$PG_DATA" && port_open "$PG_PORT"
}

pg_record_pid() {
    head -n 1 "$PG_DATA/postmaster.pid" >"$PG_PIDFILE"
}

pg_setup_db() {
    "$(command -v psql)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'EOF'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mailerlogic') THEN
    CREATE ROLE mailerlogic LOGIN SUPERUSER PASSWORD 'mailerlogic';
  END IF;
END
$$;
SELECT 'CREATE DATABASE mailerlogic OWNER mailerlogic'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mailerlogic')\gexec
EOF
}

pg_start() {
    pg_install
    pg_layout
    pg_init
    if pg_running; then
        log "postgres: already running (pid $(<"$PG_PIDFILE")), left alone"
    elif [[ -f $PG_DATA/postmaster.pid ]] && as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        # Our own data folder is served, but the pid file was lost: adopt it.
        log "postgres: our cluster is already running, adopting it"
        pg_record_pid
    else
        port_open "$PG_PORT" && die "postgres: port $PG_PORT is taken by a process this script did not start"
        rm -f "$PG_PIDFILE"
        log "postgres: starting on 127.0.0.1:$PG_PORT"
        as_postgres touch "$PG_REAL/postgres.log"
        # -p: the port of this script wins over the one initdb wrote (a data folder made by an
        # older version of this script keeps its postgresql.conf).
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_REAL/postgres.log" -w -t "$PG_WAIT" \
            -o "-p $PG_PORT" start >/dev/null \
            || fail_with_log postgres "$PG_REAL/postgres.log" "did not start within ${PG_WAIT}s"
        pg_record_pid
    fi
    pg_setup_db || fail_with_log postgres "$PG_REAL/postgres.log" "could not create role/database mailerlogic"
    log "postgres: up"
}

pg_stop() {
    pg_paths
    if ! pid_alive "$PG_PIDFILE" "$PG_DATA"; then
        rm -f "$PG_PIDFILE"
        log "postgres: not running (nothing to stop)"
        return 0
    fi
    pg_install
    log "postgres: stopping (pg_ctl stop -m fast)"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_WAIT" stop >/dev/null \
        || stop_pid postgres "$PG_PIDFILE" "$PG_DATA"
    rm -f "$PG_PIDFILE"
    log "postgres: stopped"
}

# ------------------------------------------------------------------------ ClickHouse

CH_PIDFILE="$RUN/clickhouse.pid"
CH_CONFIG="$CH_DIR/config.xml"
CH_LOG="$CH_DIR/log/clickhouse-server.log"
CH_OUT="$CH_DIR/log/stdout.log"

ch_install() {
    if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
        apt_install clickhouse-server clickhouse-client
    fi
}

# Config for ClickHouse 18.16 (the Debian 12 package): root element <yandex>.
# No interserver/https/mysql ports; data, logs and users under .services/clickhouse.
ch_write_config() {
    mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas" "$CH_DIR/log"
    cat >"$CH_CONFIG" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/services.sh; regenerated on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/log/clickhouse-server.log</log>
        <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>

    <listen_host>127.0.0.1</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>

    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <mlock_executable>false</mlock_executable>

    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>

    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <umask>022</umask>

    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>

    <!-- Tests drop tables freely. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
    cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/services.sh; regenerated on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

ch_query_ok() {
    clickhouse-client --host 127.0.0.1 --port "$CH_TCP_PORT" -q 'SELECT 1' >/dev/null 2>&1
}

ch_running() {
    pid_alive "$CH_PIDFILE" "$CH_CONFIG" && port_open "$CH_TCP_PORT"
}

ch_start() {
    ch_install
    if ch_running; then
        log "clickhouse: already running (pid $(<"$CH_PIDFILE")), left alone"
        return 0
    fi
    if pid_alive "$CH_PIDFILE" "$CH_CONFIG"; then
        log "clickhouse: pid $(<"$CH_PIDFILE") is ours but not answering yet, waiting"
    else
        for p in "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
            port_open "$p" && die "clickhouse: port $p is taken by a process this script did not start"
        done
        ch_write_config
        rotate_log "$CH_LOG"
        rotate_log "$CH_OUT"
        log "clickhouse: starting on 127.0.0.1:$CH_TCP_PORT (native) / :$CH_HTTP_PORT (http)"
        (cd "$CH_DIR" && exec setsid nohup clickhouse-server --config-file="$CH_CONFIG" \
            </dev/null >"$CH_OUT" 2>&1) &
        echo $! >"$CH_PIDFILE"
    fi
    local deadline=$((SECONDS + CH_WAIT))
    while ((SECONDS < deadline)); do
        if ch_query_ok; then
            log "clickhouse: up"
            return 0
        fi
        pid_alive "$CH_PIDFILE" "$CH_CONFIG" || break
        sleep 0.5
    done
    local logfile=$CH_LOG
    [[ -s $logfile ]] || logfile=$CH_OUT
    if pid_alive "$CH_PIDFILE" "$CH_CONFIG"; then
        fail_with_log clickhouse "$logfile" "not answering 'SELECT 1' on port $CH_TCP_PORT after ${CH_WAIT}s"
    fi
    tail -n 20 "$CH_OUT" >&2 2>/dev/null || true
    fail_with_log clickhouse "$logfile" "server process exited"
}

ch_stop() { stop_pid clickhouse "$CH_PIDFILE" "$CH_CONFIG"; }

# ----------------------------------------------------------------------------- Kafka

KAFKA_PIDFILE="$RUN/kafka.pid"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CP="$KAFKA_LIBS/*"

kafka_install() {
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    if ! compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
        command -v mvn >/dev/null || apt_install maven
        log "kafka: resolving jars with Maven into $KAFKA_LIBS (cache: $M2_REPO)"
        rm -rf "$KAFKA_LIBS"
        mkdir -p "$KAFKA_DIR"
        mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
            -Dmaven.repo.local="$M2_REPO" </dev/null >"$KAFKA_DIR/mvn.log" 2>&1 \
            || fail_with_log kafka "$KAFKA_DIR/mvn.log" "Maven could not resolve the Kafka jars"
        compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null \
            || die "kafka: Maven finished but no kafka_2.13 jar is in $KAFKA_LIBS"
    fi
}

kafka_write_config() {
    mkdir -p "$KAFKA_DATA"
    cat >"$KAFKA_PROPS" <<EOF
# Written by scripts/services.sh; regenerated on every start.
# Single node, KRaft mode, combined broker + controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA

num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# Small machine (2 cores): fewer threads.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
    cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
# Written by scripts/services.sh. Everything goes to stdout, which is kafka.log.
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
EOF
}

kafka_format() {
    [[ -f $KAFKA_DATA/meta.properties ]] && return 0
    # A cluster id is 16 random bytes, base64url without padding.
    local cluster_id
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    log "kafka: formatting storage (cluster id $cluster_id)"
    java -cp "$KAFKA_CP" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" --ignore-formatted \
        >"$KAFKA_DIR/format.log" 2>&1 </dev/null \
        || fail_with_log kafka "$KAFKA_DIR/format.log" "storage format failed"
}

# A metadata request through the project's client when the venv exists; a TCP check otherwise.
kafka_metadata_ok() {
    port_open "$KAFKA_PORT" || return 1
    local py="$ROOT/.venv/bin/python"
    if [[ -x $py ]] && "$py" -c 'import kafka' 2>/dev/null; then
        timeout 15 "$py" - "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 <<'EOF'
import sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000,
                         client_id="services-sh")
try:
    admin.list_topics()
finally:
    admin.close()
EOF
    else
        # Without the client: the port answers and the broker logged that it started.
        grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null
    fi
}

kafka_running() {
    pid_alive "$KAFKA_PIDFILE" "$KAFKA_PROPS" && port_open "$KAFKA_PORT"
}

kafka_start() {
    kafka_install
    if kafka_running; then
        log "kafka: already running (pid $(<"$KAFKA_PIDFILE")), left alone"
        return 0
    fi
    if pid_alive "$KAFKA_PIDFILE" "$KAFKA_PROPS"; then
        log "kafka: pid $(<"$KAFKA_PIDFILE") is ours but not answering yet, waiting"
    else
        for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
            port_open "$p" && die "kafka: port $p is taken by a process this script did not start"
        done
        kafka_write_config
        kafka_format
        rotate_log "$KAFKA_LOG"
        log "kafka: starting on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
        (cd "$KAFKA_DIR" && exec setsid nohup java -Xms256m -Xmx512m -XX:+UseG1GC \
            -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
            -cp "$KAFKA_CP" kafka.Kafka "$KAFKA_PROPS" </dev/null >"$KAFKA_LOG" 2>&1) &
        echo $! >"$KAFKA_PIDFILE"
    fi
    local deadline=$((SECONDS + KAFKA_WAIT))
    while ((SECONDS < deadline)); do
        if kafka_metadata_ok; then
            log "kafka: up"
            return 0
        fi
        pid_alive "$KAFKA_PIDFILE" "$KAFKA_PROPS" || fail_with_log kafka "$KAFKA_LOG" "broker process exited"
        sleep 0.5
    done
    fail_with_log kafka "$KAFKA_LOG" "no metadata answer on 127.0.0.1:$KAFKA_PORT after ${KAFKA_WAIT}s"
}

kafka_stop() { stop_pid kafka "$KAFKA_PIDFILE" "$KAFKA_PROPS"; }

# ------------------------------------------------------------------------------- env

write_env() {
    ensure_dirs
    cat >"$SVC/env" <<EOF
export EVENT_STORE_URL=postgresql://mailerlogic:mailerlogic@127.0.0.1:$PG_PORT/mailerlogic
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
export CLICKHOUSE_URL=clickhouse://default:@127.0.0.1:$CH_TCP_PORT/default
export MAILERLOGIC_TEST_CLICKHOUSE_HTTP=http://127.0.0.1:$CH_HTTP_PORT
export MAILERLOGIC_CLICKHOUSE_HTTP_URL=http://127.0.0.1:$CH_HTTP_PORT
export MAILERLOGIC_KAFKA_HOME=$KAFKA_DIR
export MAILERLOGIC_SERVICES_SCRIPT=$SCRIPT_PATH
EOF
    cat "$SVC/env"
}

# -------------------------------------------------------------------------- commands

status_line() {
    local name=$1 up=$2 pidfile=$3 where=$4
    if [[ $up == 1 ]]; then
        printf '%-11s up    pid %-8s %s\n' "$name" "$(cat "$pidfile" 2>/dev/null || echo '?')" "$where"
    else
        printf '%-11s down  %-12s %s\n' "$name" "" "$where"
    fi
}

cmd_status() {
    local all=0 up
    pg_paths
    up=0; pg_running && up=1 || all=1
    status_line postgres "$up" "$PG_PIDFILE" "127.0.0.1:$PG_PORT"
    up=0; ch_running && ch_query_ok && up=1 || all=1
    status_line clickhouse "$up" "$CH_PIDFILE" "127.0.0.1:$CH_TCP_PORT,:$CH_HTTP_PORT"
    up=0; kafka_running && up=1 || all=1
    status_line kafka "$up" "$KAFKA_PIDFILE" "127.0.0.1:$KAFKA_PORT"
    return "$all"
}

# ------------------------------------------------------------------ mail test tools

# Postfix's native load tools (smtp-sink, smtp-source: the delivery benchmark's sink and
# baseline) and OpenDKIM's checker (an independent DKIM verifier in the tests). Postfix is
# installed with debconf's "No configuration", so no mail system is set up or started.
tools_install() {
    local missing=()
    command -v smtp-sink >/dev/null || [[ -x /usr/sbin/smtp-sink ]] || missing+=(postfix)
    command -v opendkim-testmsg >/dev/null || [[ -x /usr/sbin/opendkim-testmsg ]] || missing+=(opendkim-tools)
    command -v kcat >/dev/null || missing+=(kcat)  # the projector benchmark's producer and baseline
    [[ ${#missing[@]} == 0 ]] && return 0
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt_install "${missing[@]}"
}

cmd_start() {
    ensure_dirs
    tools_install
    pg_start
    ch_start
    kafka_start
    write_env
}

cmd_stop() {
    ensure_dirs
    kafka_stop
    ch_stop
    pg_stop
}

usage() {
    sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root (installs packages and runs postgres as user postgres)"
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        env) write_env ;;
        kafka-stop) ensure_dirs; kafka_stop ;;
        kafka-start) ensure_dirs; kafka_start ;;
        clickhouse-stop) ensure_dirs; ch_stop ;;
        clickhouse-start) ensure_dirs; ch_start ;;
        -h | --help | help) usage 0 ;;
        *) usage ;;
    esac
}

main "$@"
