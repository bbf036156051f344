#!/usr/bin/env bash
# Idempotent set-up on a Debian machine, as root: system packages, the
# virtualenv with the product installed, and the BPF objects.  Quiet when
# everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (XDP and network namespaces need it)" >&2
    exit 2
fi

PACKAGES=(clang llvm make gcc libc6-dev linux-libc-dev libbpf-dev bpftool iproute2 ethtool
          hping3 socat curl iputils-ping tcpdump tmux util-linux python3 python3-venv bird2
          openssh-client openssh-server)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# openssh-server is here for the tests of `apply` over SSH, which start their
# own sshd in a namespace: installed by setup, the system's sshd must not run
# (a listening root login on the host nobody asked for).  Debian's unit and
# init script honour /etc/ssh/sshd_not_to_be_run; policy-rc.d keeps the
# postinst from starting it meanwhile.  An sshd installed before is left alone.
new_sshd=false
for p in "${missing[@]}"; do [ "$p" = openssh-server ] && new_sshd=true; done
if $new_sshd; then
    mkdir -p /etc/ssh && touch /etc/ssh/sshd_not_to_be_run
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    made_policy=false
    if $new_sshd && [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=true
    fi
    installed=true
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${missing[@]}" >/dev/null; } || installed=false
    if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi
    if ! $installed; then
        echo "setup: could not install ${missing[*]} (see above): install them by hand" \
             "with 'apt-get install ${missing[*]}', then run scripts/setup.sh again" >&2
        exit 2
    fi
fi
if $new_sshd && [ -d /run/systemd/system ]; then
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Python 3.11 or newer is required ($PY is $("$PY" -V 2>&1))" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.l4lb-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi

# The Makefile names what is missing (clang, most often); say what it means.
if ! make -s -C bpf; then
    echo "setup: the BPF objects are not built (see above): l4lb cannot attach" \
         "until 'make -C bpf' succeeds" >&2
    exit 2
fi
