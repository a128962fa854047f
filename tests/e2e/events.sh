# shellcheck shell=bash
# Reading the tunnel's JSON events and the test helpers' port files, shared
# by the e2e, interop and NAT lab tests. Sourced; the sourcing test sets
# HELPER (tests/e2e/tunnel_helper.py) and defines fail.

# wait_event FILE ACTION [TIMEOUT_S] [NTH] [PID]: prints the NTH (default 1)
# JSON event line with that action once it appears in FILE; with a PID,
# fails (status 3) as soon as that process has exited without it.
wait_event() {
	python3 "$HELPER" wait-event "$1" "$2" "${3:-20}" "${4:-1}" ${5:+"$5"}
}

# json_get JSON KEY: one member of a JSON object (strings bare).
json_get() {
	python3 "$HELPER" json-get "$1" "$2"
}

# wait_port_file FILE: prints the port a helper wrote to FILE (it binds
# port 0 and reports the port it got, so no two tests race for one).
wait_port_file() {
	local i
	for i in $(seq 100); do
		[ -f "$1" ] && cat "$1" && return 0
		sleep 0.1
	done
	fail "no port in $1"
}
