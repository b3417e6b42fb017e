#!/usr/bin/env bash
# Runs kbot's whole test suite — the one command of the README and of `.ci/run`.
#
# 1. Installs what the tests need when it can: gnome-keyring and dbus-daemon (the keyring
#    test talks to a real Secret Service), systemd (systemd-analyze checks the unit file),
#    faketime, openssl (its s_server stands in for old and private-CA sites) and libssl-dev
#    with pkg-config (kbot links OpenSSL for `tls = "legacy"`). With apt-get, as root or
#    through `sudo -n`; otherwise it names what is missing and how to install it, and stops.
# 2. Runs `cargo test --locked` inside a private D-Bus session with its own unlocked
#    gnome-keyring (its data in a temporary XDG_DATA_HOME, so your own keyring is never
#    touched). tests/docs.rs, part of it, checks that every relative link in README.md and
#    docs/ resolves.
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test cli`).
# KBOT_TEST_NO_INSTALL=1 skips step 1's installing (it still reports what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package
need=()
command -v dbus-run-session >/dev/null || need+=(dbus-daemon)
command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v faketime >/dev/null || need+=(faketime)
command -v openssl >/dev/null || need+=(openssl)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev pkg-config)

if [ ${#need[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    fi
    if [ "${KBOT_TEST_NO_INSTALL:-}" != 1 ] && command -v apt-get >/dev/null &&
        { [ "$(id -u)" -eq 0 ] || [ ${#sudo[@]} -gt 0 ]; }; then
        echo "scripts/test.sh: installing ${need[*]} (apt-get)" >&2
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
    else
        echo "scripts/test.sh: the tests need these packages: ${need[*]}" >&2
        echo "hint: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
        echo "      (or the same packages from your distribution), then run scripts/test.sh again" >&2
        exit 1
    fi
fi

XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
dbus-run-session -- sh -c '
    printf "kbot-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null &&
    exec cargo test --locked "$@"
' sh "$@"
