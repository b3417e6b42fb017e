#!/usr/bin/env bash
# Runs kbot's whole test suite. The keyring test talks to a real Secret Service, so the
# suite runs inside a private D-Bus session with its own unlocked gnome-keyring (its data
# in a temporary XDG_DATA_HOME, so your own keyring is never touched).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test cli`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dbus-run-session >/dev/null || missing+=(dbus-daemon)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
if [ ${#missing[@]} -gt 0 ]; then
    echo "scripts/test.sh: the keyring test needs a Secret Service; missing: ${missing[*]}" >&2
    echo "hint: sudo apt-get install -y --no-install-recommends gnome-keyring dbus-daemon" >&2
    exit 1
fi

XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
dbus-run-session -- sh -c '
    printf "kbot-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    exec cargo test --locked "$@"
' sh "$@"
