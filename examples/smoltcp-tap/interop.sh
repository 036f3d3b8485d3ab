#!/usr/bin/env bash
# Interop of smoltcp-tap against the `rudp` CLI on kernel UDP, in a network namespace of its own:
# both ways, then once through `rudp relay --loss 5%`. See ../tap-interop.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../tap-interop.sh" smoltcp-tap
