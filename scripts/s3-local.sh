#!/usr/bin/env bash
# s3-local.sh — a real S3 server with Object Lock on 127.0.0.1, for local use and tests.
#
# A one-node Ceph cluster (one monitor, one OSD, no manager) and radosgw, all inside DIR:
# configuration, keyring, stores, pid files, sockets and logs. Nothing goes to /etc/ceph or
# /var/lib/ceph, nothing listens on anything but 127.0.0.1, and daemons are stopped by their
# pid files only. The recipe and its measured timings are in /work/shared/S3-LOCAL.md.
#
#   s3-local.sh start  DIR [--persistent]   install Ceph if missing, start (or restart) the cluster,
#                                           wait for a signed S3 call, print `export` lines
#   s3-local.sh stop   DIR                  stop radosgw, then the OSD, then the monitor
#   s3-local.sh status DIR                  exit 0 when all three daemons run and S3 answers
#   s3-local.sh env    DIR                  print the `export` lines of DIR/s3.env
#
# Use: eval "$(scripts/s3-local.sh start /tmp/s3)"  (progress goes to stderr).
#
# Environment, recorded in DIR at its first start (a restart reuses the record and refuses
# other ports):
#   S3_PORT              radosgw port                      (default 17480)
#   MON_PORT             monitor port, msgr v2             (default 13300)
#   S3_LOCAL_USER        radosgw user id                   (default ledger)
#   S3_LOCAL_ACCESS_KEY  the user's access key             (default LEDGERLOCALACCESSKEY)
#   S3_LOCAL_SECRET_KEY  the user's secret key             (default: a fixed local-only value)
#   S3_OSD_SIZE          bluestore file size, --persistent (default 10G, sparse)
# and read at every start:
#   S3_START_TIMEOUT     seconds to wait for each step     (default 60)
#
# --persistent keeps the objects in a bluestore on a sparse file (DIR/osd-block); without it the
# OSD uses memstore (RAM), whose contents survive only a clean `stop`.
set -euo pipefail

readonly PROG=${0##*/}
readonly RGW_NAME=client.rgw.a

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

usage() {
  echo "usage: $PROG start|stop|status|env DIR [--persistent]" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir_arg=$2
shift 2
persistent=0
for opt in "$@"; do
  case $opt in
    --persistent) [[ $cmd == start ]] || die "--persistent is an option of start only"; persistent=1 ;;
    *) die "unknown option: $opt" ;;
  esac
done
case $cmd in start | stop | status | env) ;; *) usage ;; esac

# --- the data directory --------------------------------------------------------------------------

[[ $cmd == start ]] && mkdir -p -m 0700 "$dir_arg"
[[ -d $dir_arg ]] || die "no such directory: $dir_arg"
DIR=$(cd "$dir_arg" && pwd -P)
# Unix socket paths (DIR/run/client.rgw.a.asok) must fit in 107 bytes.
((${#DIR} < 80)) || die "DIR path must be shorter than 80 characters: $DIR (${#DIR})"
[[ $DIR =~ ^[A-Za-z0-9._/-]+$ ]] || die "DIR path may contain only letters, digits and ._/-: $DIR"

readonly CONF=$DIR/ceph.conf
readonly SETTINGS=$DIR/cluster.settings
readonly ENV_FILE=$DIR/s3.env
readonly CREATED=$DIR/created # written once the first start has succeeded
readonly RUN=$DIR/run
readonly LOG=$DIR/log
TIMEOUT=${S3_START_TIMEOUT:-60}

# --- daemons by pid file -------------------------------------------------------------------------

# The pid of daemon $1 when its pid file names a live process started with this DIR's ceph.conf
# (a stale pid file or a reused pid is never taken for ours); empty otherwise.
daemon_pid() {
  local file=$RUN/$1.pid pid
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  [[ -r /proc/$pid/cmdline ]] || return 0
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$CONF" || return 0
  echo "$pid"
}

# Sends TERM to daemon $1 and waits for it to exit (KILL after 30 s, then reported as an error).
stop_daemon() {
  local name=$1 pid i
  pid=$(daemon_pid "$name")
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    [[ -d /proc/$pid ]] || { rm -f "$RUN/$name.pid"; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  say "$name (pid $pid) did not exit within 30 s of SIGTERM; killed"
  return 1
}

stop_all() {
  local rc=0
  stop_daemon "$RGW_NAME" || rc=1
  stop_daemon osd.0 || rc=1
  stop_daemon mon.a || rc=1
  return $rc
}

log_tails() {
  local f
  for f in "$LOG/mon.a.log" "$LOG/osd.0.log" "$LOG/$RGW_NAME.log" "$LOG/setup.log"; do
    [[ -s $f ]] || continue
    echo "----- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
}

# A failed start stops whatever it started and shows the logs: it never leaves a half cluster
# running and never succeeds quietly.
fail_start() {
  say "start failed: $*"
  log_tails
  stop_all || true
  exit 1
}

# Polls `$@` every 50 ms until it succeeds; fails the start after $TIMEOUT seconds, or as soon
# as the daemon named by $WAIT_FOR (if set) has exited. A daemon may return to the shell before
# its forked child writes the pid file (radosgw does), so a missing pid file counts as an exit
# only after 10 s.
wait_until() {
  local what=$1 i seen=0
  shift
  for ((i = 0; i < TIMEOUT * 20; i++)); do
    "$@" && return 0
    if [[ -n ${WAIT_FOR:-} ]]; then
      if [[ -n $(daemon_pid "$WAIT_FOR") ]]; then
        seen=1
      elif ((seen || i >= 200)); then
        fail_start "$WAIT_FOR exited while waiting for $what"
      fi
    fi
    sleep 0.05
  done
  fail_start "timed out after ${TIMEOUT}s waiting for $what"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- S3 probes (curl signs with SigV4 itself) ------------------------------------------------------

s3_answers() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$S3_PORT/") == 200 ]]
}

# A signed ListBuckets: 200 means the user exists and signatures verify. curl 7.88 does not send
# x-amz-content-sha256 on its own (radosgw then answers SignatureDoesNotMatch), so it is given:
# the SHA-256 of the empty body.
readonly EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
signed_call_works() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "x-amz-content-sha256: $EMPTY_SHA256" \
    --aws-sigv4 'aws:amz:us-east-1:s3' --user "$ACCESS_KEY:$SECRET_KEY" \
    "http://127.0.0.1:$S3_PORT/") == 200 ]]
}

# --- installation --------------------------------------------------------------------------------

readonly TOOLS=(ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin curl)

ensure_installed() {
  local missing=0 t
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || missing=1; done
  ((missing)) || return 0
  # Test files start clusters in parallel: one installs, the others wait for it.
  exec 9>/tmp/ledger-s3-local-install.lock
  flock 9
  missing=0
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || missing=1; done
  ((missing)) || { flock -u 9; return 0; }
  ((EUID == 0)) || die "Ceph is not installed; as root run: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl"
  say "installing ceph-mon ceph-osd radosgw (Debian packages)"
  local t0=$SECONDS
  # Refresh the package lists only when they do not know radosgw yet.
  if ! apt-cache policy radosgw 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq >&2 || die "apt-get update failed"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd radosgw curl >&2 || die "apt-get install failed"
  for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null || die "$t still missing after install"; done
  say "installed in $((SECONDS - t0)) s"
  flock -u 9
}

# --- settings and configuration -------------------------------------------------------------------

load_settings() {
  [[ -f $SETTINGS ]] || die "$DIR holds no cluster (no $SETTINGS); run: $PROG start $DIR"
  # shellcheck source=/dev/null
  source "$SETTINGS"
}

# Records the settings of a new cluster; a restart reuses them (the monitor's address is part of
# its map, so the ports cannot change afterwards).
new_settings() {
  local store=memstore
  ((persistent)) && store=bluestore
  local mon_port=${MON_PORT:-13300} s3_port=${S3_PORT:-17480}
  [[ $mon_port =~ ^[0-9]+$ && $s3_port =~ ^[0-9]+$ ]] || die "MON_PORT and S3_PORT must be numbers"
  umask 077
  cat >"$SETTINGS" <<EOF
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
MON_PORT=$mon_port
S3_PORT=$s3_port
OBJECTSTORE=$store
OSD_SIZE=${S3_OSD_SIZE:-10G}
S3_USER=${S3_LOCAL_USER:-ledger}
ACCESS_KEY=${S3_LOCAL_ACCESS_KEY:-LEDGERLOCALACCESSKEY}
SECRET_KEY=${S3_LOCAL_SECRET_KEY:-ledgerLocalSecretKeyForTestsOnly0000000}
EOF
}

check_settings_match() {
  [[ -z ${MON_PORT_ENV:-} || $MON_PORT_ENV == "$MON_PORT" ]] ||
    die "$DIR was created with MON_PORT=$MON_PORT, not $MON_PORT_ENV"
  [[ -z ${S3_PORT_ENV:-} || $S3_PORT_ENV == "$S3_PORT" ]] ||
    die "$DIR was created with S3_PORT=$S3_PORT, not $S3_PORT_ENV"
  if ((persistent)) && [[ $OBJECTSTORE != bluestore ]]; then
    die "$DIR holds a memstore cluster; --persistent needs a new DIR"
  fi
}

write_conf() {
  local bytes
  bytes=$(numfmt --from=iec "$OSD_SIZE") || die "bad S3_OSD_SIZE: $OSD_SIZE"
  cat >"$CONF" <<EOF
# Written by scripts/s3-local.sh; a one-node cluster confined to $DIR and 127.0.0.1.
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring
run dir = $RUN
pid file = $RUN/\$name.pid
log file = $LOG/\$name.log
mon cluster log file = $LOG/cluster.log
crash dir = $DIR/crash
# One OSD: pools of size 1, every replica on the same host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# Without this every pool radosgw creates costs a second (S3-LOCAL.md).
paxos propose interval = 0.01

[mon]
mon data = $DIR/mon
admin socket = $RUN/\$name.asok

[osd]
osd data = $DIR/osd
admin socket = $RUN/\$name.asok
osd objectstore = $OBJECTSTORE
# memstore keeps its objects only across a clean shutdown.
osd fast shutdown = false
osd memory target = 1073741824
bluestore block path = $DIR/osd-block
bluestore block create = true
bluestore block size = $bytes

[$RGW_NAME]
admin socket = $RUN/\$name.asok
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT
EOF
}

write_env_file() {
  umask 077
  cat >"$ENV_FILE" <<EOF
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=us-east-1
EOF
}

print_env() {
  [[ -f $ENV_FILE ]] || die "no $ENV_FILE; run: $PROG start $DIR"
  sed 's/^/export /' "$ENV_FILE"
}

# --- first start: keys, monitor map, stores -------------------------------------------------------

# Commands of the setup run with their output in DIR/log/setup.log (shown when a start fails).
setup() { "$@" >>"$LOG/setup.log" 2>&1 || fail_start "$* failed"; }

create_cluster() {
  say "creating a $OBJECTSTORE cluster in $DIR (mon 127.0.0.1:$MON_PORT, S3 127.0.0.1:$S3_PORT)"
  local kr=$DIR/keyring
  setup ceph-authtool --create-keyring "$kr" --gen-key -n mon. --cap mon 'allow *'
  setup ceph-authtool "$kr" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'
  setup ceph-authtool "$kr" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
  setup ceph-authtool "$kr" --gen-key -n "$RGW_NAME" --cap mon 'allow rw' --cap osd 'allow rwx'
  chmod 600 "$kr"
  setup monmaptool --create --clobber --enable-all-features --fsid "$FSID" \
    --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap"
  setup ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$kr"
}

# --- start ---------------------------------------------------------------------------------------

mon_running() { [[ -n $(daemon_pid mon.a) ]]; }

osd_up_in() {
  timeout 10 ceph -c "$CONF" -n client.admin --connect-timeout 5 osd dump 2>>"$LOG/setup.log" |
    grep -q '^osd\.0 up *in '
}

do_start() {
  local t0=$EPOCHREALTIME
  ensure_installed
  MON_PORT_ENV=${MON_PORT:-} S3_PORT_ENV=${S3_PORT:-}
  local fresh=0
  if [[ ! -f $SETTINGS ]]; then
    [[ -z $(ls -A "$DIR") ]] || die "$DIR is not empty and holds no cluster of this script"
    new_settings
    fresh=1
  elif [[ ! -f $CREATED ]]; then
    die "the first start in $DIR failed half-way; delete $DIR and start again"
  fi
  load_settings
  check_settings_match
  mkdir -p "$RUN" "$LOG" "$DIR/crash" "$DIR/rgw" "$DIR/osd"

  if [[ -n $(daemon_pid mon.a) && -n $(daemon_pid osd.0) && -n $(daemon_pid "$RGW_NAME") ]] &&
    signed_call_works; then
    say "already running"
    print_env
    return 0
  fi

  if [[ -z $(daemon_pid mon.a) ]]; then
    port_in_use "$MON_PORT" && fail_start "port $MON_PORT (MON_PORT) is already in use"
  fi
  if [[ -z $(daemon_pid "$RGW_NAME") ]]; then
    port_in_use "$S3_PORT" && fail_start "port $S3_PORT (S3_PORT) is already in use"
  fi

  write_conf
  ((fresh)) && create_cluster

  # Monitor.
  if [[ -z $(daemon_pid mon.a) ]]; then
    setup ceph-mon -c "$CONF" -i a
  fi
  WAIT_FOR=mon.a wait_until "the monitor's pid file" mon_running

  # OSD.
  if ((fresh)); then
    setup timeout "$TIMEOUT" ceph -c "$CONF" -n client.admin --connect-timeout "$TIMEOUT" \
      osd new "$OSD_UUID" 0
    setup ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID"
  fi
  if [[ -z $(daemon_pid osd.0) ]]; then
    setup ceph-osd -c "$CONF" -i 0
  fi
  WAIT_FOR=osd.0 wait_until "osd.0 up and in" osd_up_in

  # radosgw creates its pools itself.
  if [[ -z $(daemon_pid "$RGW_NAME") ]]; then
    setup radosgw -c "$CONF" -n "$RGW_NAME"
  fi
  WAIT_FOR=$RGW_NAME wait_until "radosgw to answer GET /" s3_answers

  # The S3 user (kept in the cluster, so a restart finds it).
  local need_user=$fresh
  if ((!fresh)) && ! signed_call_works &&
    ! timeout "$TIMEOUT" radosgw-admin -c "$CONF" -n client.admin user info --uid="$S3_USER" \
      >/dev/null 2>>"$LOG/setup.log"; then
    need_user=1
  fi
  if ((need_user)); then
    # Its answer (which repeats the secret key) goes nowhere; errors go to setup.log.
    timeout "$TIMEOUT" radosgw-admin -c "$CONF" -n client.admin user create \
      --uid="$S3_USER" --display-name="$S3_USER" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
      >/dev/null 2>>"$LOG/setup.log" || fail_start "radosgw-admin user create failed"
  fi
  WAIT_FOR=$RGW_NAME wait_until "a signed S3 call to succeed" signed_call_works

  write_env_file
  touch "$CREATED"
  say "ready at http://127.0.0.1:$S3_PORT in $(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }") s;" \
    "env file: $ENV_FILE"
  print_env
}

do_stop() {
  [[ -f $SETTINGS ]] || die "$DIR holds no cluster of this script"
  if stop_all; then say "stopped"; else die "stopped with errors"; fi
}

do_status() {
  load_settings
  local rc=0 name pid
  for name in mon.a osd.0 "$RGW_NAME"; do
    pid=$(daemon_pid "$name")
    if [[ -n $pid ]]; then echo "$name running (pid $pid)"; else echo "$name not running"; rc=1; fi
  done
  if signed_call_works; then echo "S3 answers at http://127.0.0.1:$S3_PORT"; else
    echo "S3 does not answer at http://127.0.0.1:$S3_PORT"
    rc=1
  fi
  return $rc
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) print_env ;;
esac
