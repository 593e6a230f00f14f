#!/usr/bin/env bash
# Writes the airlock(1) man page to stdout, made from the client's own help text (the usage
# functions of src/cli/ are its one source): the synopsis and option list of `airlock --help`,
# then one section per command from `airlock help COMMAND`. Run by the build (CMake) on the
# freshly built client:  contrib/gen-man.sh BUILD/airlock [OUTPUT]   (default: stdout)
set -euo pipefail
AIRLOCK=${1:?usage: gen-man.sh PATH/TO/airlock [OUTPUT]}
if [ -n "${2:-}" ]; then
	exec >"$2.tmp"
	trap 'mv "$2.tmp" "$2"' EXIT
fi

# Help text as roff: every line literal (no fill), backslashes and leading dots escaped.
roff() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }

version=$("$AIRLOCK" --version | awk '{print $2}')
main=$("$AIRLOCK" --help)
cat <<HEAD
.TH AIRLOCK 1 "" "airlock $version" "User Commands"
.SH NAME
airlock \\- the command-line client of airlockd, which runs code for AI agents in sandboxes
.SH SYNOPSIS
.nf
HEAD
printf '%s\n' "$main" | roff
echo ".fi"
echo ".SH COMMANDS"
# The command names from the "Commands:" list of the main help.
printf '%s\n' "$main" | awk '/^Commands:/{on=1; next} on && /^$/{exit} on{print $1}' |
	while read -r cmd; do
		printf '.SS %s\n.nf\n' "$cmd"
		"$AIRLOCK" help "$cmd" | roff
		echo ".fi"
	done
cat <<'TAIL'
.SH ENVIRONMENT
.TP
.B AIRLOCK_SOCKET
airlockd's socket (default /run/airlock/airlock.sock)
.TP
.B AIRLOCK_TOKEN
a bearer token: requests act as its agent only
.TP
.B AIRLOCK_AGENT, AIRLOCK_SESSION
the default agent and session of airlock exec
.SH SEE ALSO
airlockd(8); docs/cli.md, docs/api.md and docs/mcp.md in the airlock sources
TAIL
