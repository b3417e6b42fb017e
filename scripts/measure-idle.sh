#!/usr/bin/env bash
# Measures an idle `kbot daemon`: resident memory, threads and context switches over a
# window (60 s by default) with three meals scheduled hours away, so the only thing the
# daemon should do is its ≤ 60 s naps (DESIGN §6).
#
#   scripts/measure-idle.sh            # builds release, then measures for 60 s
#   KBOT_BIN=path/to/kbot WINDOW=120 scripts/measure-idle.sh
#
# How it works without Kakao: the login is a seeded file store (secrets.json, 0600) whose
# cached access token expires in a year, so the start-up login check needs no network. The
# daemon still refreshes the token once at start (its keep-alive); a tiny responder on
# 127.0.0.1 (python3, stopped by this script) answers that refresh like Kakao's token
# endpoint. Without python3, auth_url points at a closed loopback port: the keep-alive
# fails, is logged, and the daemon idles all the same.
#
# The counts are summed over every thread (/proc/PID/task/*/status): /proc/PID/status alone
# shows only the main thread, which sleeps in block_on the whole time. The window starts
# after a settling time, so tokio's blocking-pool threads (used at start for the secret
# store and the locks; they exit after 10 s idle) are gone before it. Linux only.
set -euo pipefail
cd "$(dirname "$0")/.."

WINDOW=${WINDOW:-60}
SETTLE=${SETTLE:-15}

if [ -z "${KBOT_BIN:-}" ]; then
    cargo build --release --locked
    KBOT_BIN=target/release/kbot
fi
KBOT_BIN=$(realpath "$KBOT_BIN")

work=$(mktemp -d)
daemon_pid=""
responder_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    [ -n "$responder_pid" ] && kill "$responder_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The token endpoint: answers any POST /oauth/token with a fresh token, on a loopback port,
# and stops by itself after WINDOW + SETTLE + 60 s.
port=1
if command -v python3 >/dev/null; then
    python3 - "$work/port" "$((WINDOW + SETTLE + 60))" <<'PY' &
import http.server, json, sys, threading
class Token(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": "idle-access", "token_type": "bearer",
                           "expires_in": 21599}).encode()
        self.send_response(200 if self.path == "/oauth/token" else 404)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Token)
open(sys.argv[1], "w").write(str(server.server_port))
threading.Timer(float(sys.argv[2]), server.shutdown).start()
server.serve_forever()
PY
    responder_pid=$!
    for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
    port=$(cat "$work/port")
else
    echo "note: no python3: the start-up keep-alive will fail (logged); the daemon idles anyway" >&2
fi

# Three meals, every day, 12 hours from now in Seoul: nothing fires in the window.
hour=$(( (10#$(TZ=Asia/Seoul date +%H) + 12) % 24 ))
cat >"$work/config.toml" <<EOF
timezone = "Asia/Seoul"
[kakao]
client_id = "idle-measure"
auth_url = "http://127.0.0.1:$port"
api_url = "http://127.0.0.1:$port"
[secrets]
store = "file"
[[source]]
name = "학생식당"
url = "file://$work/menu.html"
[source.select]
lunch = "div.lunch"
[schedule]
breakfast = "0 $hour * * *"
lunch = "10 $hour * * *"
dinner = "20 $hour * * *"
EOF
mkdir -m 700 "$work/data"
year=$(( $(date -u +%Y) + 1 ))
stamp=$(date -u +%m-%dT%H:%M:%SZ)
(umask 077; cat >"$work/data/secrets.json" <<EOF
{"version": 1, "apps": {"idle-measure": {
  "refresh_token": "idle-refresh", "refresh_token_expires_at": "$year-$stamp",
  "access_token": "idle-access", "access_token_expires_at": "$year-$stamp",
  "scopes": ["talk_message"], "client_secret": null, "nickname": "idle"}}}
EOF
echo file >"$work/data/store")

KBOT_CONFIG="$work/config.toml" KBOT_DATA_DIR="$work/data" KBOT_LOG="kbot=info" \
    "$KBOT_BIN" daemon 2>"$work/daemon.log" &
daemon_pid=$!

for _ in $(seq 200); do
    grep -q "daemon started" "$work/daemon.log" 2>/dev/null && break
    sleep 0.05
done
grep -q "daemon started" "$work/daemon.log" || { cat "$work/daemon.log" >&2; exit 1; }
sleep "$SETTLE"

# One line per thread: tid name voluntary nonvoluntary.
threads() {
    for task in /proc/"$daemon_pid"/task/*; do
        printf '%s %s %s %s\n' "${task##*/}" "$(cat "$task/comm")" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status")" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status")"
    done
}
field() { awk -v k="$1:" '$1 == k {print $2}' /proc/"$daemon_pid"/status; }

threads >"$work/before"
rss_before=$(field VmRSS)
sleep "$WINDOW"
threads >"$work/after"
rss_after=$(field VmRSS)
hwm=$(field VmHWM)
anon=$(field RssAnon)
file=$(field RssFile)

echo "kbot daemon idle for ${WINDOW}s (after ${SETTLE}s settling), pid $daemon_pid, $KBOT_BIN"
echo "RSS: ${rss_before} kB before, ${rss_after} kB after (peak ${hwm} kB; now ${anon} kB anonymous + ${file} kB file-backed, the binary's pages)"
echo "threads: $(wc -l <"$work/before") before, $(wc -l <"$work/after") after"
echo "per thread (tid name: voluntary / involuntary context switches during the window):"
join "$work/before" "$work/after" | awk '
    { v = $6 - $3; n = $7 - $4; tv += v; tn += n
      printf "  %s %s: %d / %d\n", $1, $2, v, n }
    END { printf "total: %d voluntary, %d involuntary\n", tv, tn }'
echo "log:"
sed 's/^/  /' "$work/daemon.log"
