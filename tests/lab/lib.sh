# shellcheck shell=bash
# shellcheck disable=SC2034  # the LAB_* variables are for the tests that source this
# The NAT lab: real network namespaces joined by veth pairs, with real
# iptables NAT on two routers (see tests/lab/README.md). Sourced by tests.
#
#   lab_need_root              skip (exit 77) unless root
#   lab_up NAT1 NAT2           build the lab; NATn is eim|symmetric for router n
#   lab_down                   remove everything this run made (idempotent)
#   lab_exec NODE cmd...       run cmd in a node: pub relay pub2 r1 r2 host client
#   lab_bg NODE LOG cmd...     same, in the background; lab_down kills it
#   lab_echo_server NODE tcp|udp PORT [LIFETIME_S]   start and wait until ready
#   lab_probe NODE args...     run nat_probe.py in a node
#   lab_upnp_router [UPNP [NATPMP]]  r1 forwards ports on request: miniupnpd
#                              with UPnP IGD and NAT-PMP (each yes|no)
#   lab_wait_log LOG PATTERN [S]  until grep finds PATTERN in LOG (default 5 s)
#
# lab_up chains an EXIT trap in front of any existing one, so lab_down runs
# however the test ends; a test that sets its own EXIT trap must do so before
# lab_up (or call lab_down from it).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_PROBE="$LAB_DIR/nat_probe.py"
# The PID makes the names unique, so parallel tests (ctest -j) do not collide;
# interface names live inside the namespaces, so they need no prefix.
LAB_PREFIX="mtl$$-"
LAB_NODES=(pub relay pub2 r1 r2 host client)

LAB_PUB_NET=198.18.0.0/24   # public segment (RFC 2544 benchmarking space)
LAB_RELAY=198.18.0.10       # relay / public host
LAB_PUB2=198.18.0.11        # second public host
LAB_R1_WAN=198.18.0.1
LAB_R2_WAN=198.18.0.2
LAB_LAN1_NET=10.1.0.0/24
LAB_R1_LAN=10.1.0.1
LAB_HOST=10.1.0.10          # LAN host behind r1
LAB_LAN2_NET=10.2.0.0/24
LAB_R2_LAN=10.2.0.1
LAB_CLIENT=10.2.0.10        # LAN host behind r2
LAB_NAT1="" LAB_NAT2=""
# r1's public address when it runs miniupnpd (lab_upnp_router). miniupnpd
# refuses to forward for a router whose external address is private or
# reserved, and every documentation and benchmarking range is reserved to
# it, so this one is an ordinary unicast address. It exists only inside
# the lab's namespaces, none of which has a route out: no packet to it
# can leave the lab.
LAB_R1_PUBLIC=11.0.0.1

LAB_IPT=iptables
LAB_TMP=""
LAB_PIDS=()
LAB_ERR=0
LAB_TRAPPED=""

lab_need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: the NAT lab needs root"
		exit 77
	fi
}

# Installs iproute2/iptables/conntrack from Debian if a tool is missing;
# apt-get update only when the plain install fails (stale lists).
lab_need_tools() {
	local missing=()
	command -v ip >/dev/null || missing+=(iproute2)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v conntrack >/dev/null || missing+=(conntrack)
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "lab: installing ${missing[*]}" >&2
	_lab_apt "${missing[@]}" && return 0
	apt-get update -qq && _lab_apt "${missing[@]}"
}

_lab_apt() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

lab_ns() { echo "$LAB_PREFIX$1"; }

lab_exec() {
	local node=$1
	shift
	ip netns exec "$LAB_PREFIX$node" "$@"
}

# Runs one build step unless an earlier one failed; records the failure
# instead of returning it, so lab_up works the same with or without set -e.
_lab_do() {
	[ "$LAB_ERR" -eq 0 ] || return 0
	"$@" && return 0
	echo "lab: failed: $*" >&2
	LAB_ERR=1
}

_lab_sysctl() {
	_lab_do lab_exec "$1" sysctl -qw "$2"
}

_lab_node() {
	_lab_do ip netns add "$LAB_PREFIX$1"
	_lab_do ip -n "$LAB_PREFIX$1" link set lo up
	# IPv4 only: no router solicitations or DAD chatter to reason about.
	_lab_sysctl "$1" net.ipv6.conf.all.disable_ipv6=1
	_lab_sysctl "$1" net.ipv6.conf.default.disable_ipv6=1
}

# _lab_veth NODE_A IF_A NODE_B IF_B: both ends are created directly in the
# namespaces, so the root namespace never sees the link.
_lab_veth() {
	_lab_do ip link add "$2" netns "$LAB_PREFIX$1" type veth peer name "$4" netns "$LAB_PREFIX$3"
}

# _lab_addr NODE IF ADDR/LEN: address and bring up.
_lab_addr() {
	_lab_do ip -n "$LAB_PREFIX$1" addr add "$3" dev "$2"
	_lab_do ip -n "$LAB_PREFIX$1" link set "$2" up
}

# _lab_port NODE IF: plug the bridge's end of a veth into br0.
_lab_port() {
	_lab_do ip -n "$LAB_PREFIX$1" link set "$2" master br0
	_lab_do ip -n "$LAB_PREFIX$1" link set "$2" up
}

# The bridge must only switch: with br_netfilter loaded, bridged frames would
# otherwise traverse iptables in the bridge's namespace.
_lab_bridge() {
	local k
	_lab_do ip -n "${LAB_PREFIX}pub" link add br0 type bridge
	_lab_do ip -n "${LAB_PREFIX}pub" link set br0 up
	for k in iptables ip6tables arptables; do
		if lab_exec pub test -e "/proc/sys/net/bridge/bridge-nf-call-$k"; then
			_lab_sysctl pub "net.bridge.bridge-nf-call-$k=0"
		fi
	done
}

# _lab_public_host NODE ADDR: a host on the public segment, no default route
# (there is nothing beyond the segment).
_lab_public_host() {
	_lab_node "$1"
	_lab_veth "$1" eth0 pub "p-$1"
	_lab_port pub "p-$1"
	_lab_addr "$1" eth0 "$2/24"
}

# Picks the iptables that works in a lab namespace: Debian's default
# (nft backend), or the legacy one when nf_tables is unusable.
_lab_pick_iptables() {
	local ipt
	for ipt in iptables iptables-legacy; do
		command -v "$ipt" >/dev/null || continue
		if lab_exec pub "$ipt" -t nat -S >/dev/null 2>&1; then
			LAB_IPT=$ipt
			return 0
		fi
	done
	echo "lab: no working iptables" >&2
	LAB_ERR=1
}

_lab_ipt() {
	local node=$1
	shift
	_lab_do lab_exec "$node" "$LAB_IPT" "$@"
}

# _lab_nat ROUTER eim|symmetric: eim keeps the source port for every
# destination (endpoint-independent mapping); --random-fully picks a new
# random port per connection, so each destination sees a different one.
# Filtering is conntrack's in both: only replies to what the LAN sent.
_lab_nat() {
	local r=$1 random=()
	[ "$2" = symmetric ] && random=(--random-fully)
	_lab_ipt "$r" -t nat -A POSTROUTING -o wan -j MASQUERADE "${random[@]}"
	_lab_ipt "$r" -P FORWARD DROP
	_lab_ipt "$r" -A FORWARD -i lan -o wan -j ACCEPT
	_lab_ipt "$r" -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	# The router itself drops unsolicited packets too: without this its
	# kernel would answer with RST / ICMP port unreachable, which a real
	# NAT (and the tests' "dropped, not refused") does not.
	_lab_ipt "$r" -P INPUT DROP
	_lab_ipt "$r" -A INPUT -i lo -j ACCEPT
	_lab_ipt "$r" -A INPUT -i lan -j ACCEPT
	_lab_ipt "$r" -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
}

# _lab_router N NAT WAN_ADDR LAN_ADDR LANHOST LANHOST_ADDR
_lab_router() {
	local r="r$1"
	_lab_node "$r"
	_lab_veth "$r" wan pub "p-$r"
	_lab_port pub "p-$r"
	_lab_addr "$r" wan "$3/24"
	_lab_node "$5"
	_lab_veth "$5" eth0 "$r" lan
	_lab_addr "$r" lan "$4/24"
	_lab_addr "$5" eth0 "$6/24"
	_lab_do ip -n "$LAB_PREFIX$5" route add default via "$4"
	_lab_sysctl "$r" net.ipv4.ip_forward=1
	_lab_nat "$r" "$2"
}

# Removes namespaces left by runs that died without cleanup (SIGKILL, e.g.
# a ctest timeout): mtl<PID>- where that PID no longer exists.
_lab_reap_stale() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^mtl([0-9]+)- ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -d "/proc/$pid" ] && continue
		_lab_kill_ns "$ns"
		ip netns del "$ns" 2>/dev/null || true
	done
}

# Chains lab_down in front of the existing EXIT trap and hands that one the
# original exit status ("set +e": under errexit "(exit N)" would end the
# trap early); INT/TERM exit, which runs the EXIT trap.
_lab_trap() {
	local prev
	[ -n "$LAB_TRAPPED" ] && return 0
	LAB_TRAPPED=1
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- "}
	prev=${prev%" EXIT"}
	[ -n "$prev" ] && eval "prev=$prev"
	# shellcheck disable=SC2064,SC2154  # prev is expanded now, _lab_rc at exit
	trap "_lab_rc=\$?; lab_down; set +e; (exit \$_lab_rc); $prev" EXIT
	[ -n "$(trap -p INT)" ] || trap 'exit 130' INT
	[ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
}

lab_up() {
	local nat1=${1:-eim} nat2=${2:-eim} n
	for n in "$nat1" "$nat2"; do
		case $n in eim | symmetric) ;; *)
			echo "lab_up: NAT type must be eim or symmetric, not '$n'" >&2
			return 2
			;;
		esac
	done
	lab_need_tools || return 1
	_lab_reap_stale
	_lab_trap
	LAB_ERR=0
	LAB_NAT1=$nat1 LAB_NAT2=$nat2
	LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtlab.XXXXXX")
	_lab_node pub
	_lab_bridge
	_lab_public_host relay "$LAB_RELAY"
	_lab_public_host pub2 "$LAB_PUB2"
	[ "$LAB_ERR" -eq 0 ] && _lab_pick_iptables
	_lab_router 1 "$nat1" "$LAB_R1_WAN" "$LAB_R1_LAN" host "$LAB_HOST"
	_lab_router 2 "$nat2" "$LAB_R2_WAN" "$LAB_R2_LAN" client "$LAB_CLIENT"
	if [ "$LAB_ERR" -ne 0 ]; then
		lab_down
		return 1
	fi
}

# _lab_kill_ns NS: ends what still runs inside the namespace (only lab
# processes can be there); a namespace lives on while a process holds it.
_lab_kill_ns() {
	local pids i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(ip netns pids "$1" 2>/dev/null) || return 0
		[ -n "$pids" ] || return 0
		# A process may end between the listing and the kill, which then
		# fails: under a test's errexit that must not end the test.
		# shellcheck disable=SC2086  # one PID per word
		if [ "$i" -lt 10 ]; then
			kill $pids 2>/dev/null || true
		else
			kill -9 $pids 2>/dev/null || true
		fi
		sleep 0.05
	done
}

lab_down() {
	local ns pid
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns == "$LAB_PREFIX"* ]] || continue
		_lab_kill_ns "$ns"
		ip netns del "$ns" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	LAB_PIDS=()
	[ -z "$LAB_TMP" ] || rm -rf "$LAB_TMP"
	LAB_TMP=""
	return 0
}

# lab_upnp_router [UPNP [NATPMP]]: after lab_up, r1 becomes a home router
# that forwards ports on request: it shows the world LAB_R1_PUBLIC (its
# NAT maps to that address, the public hosts route it to r1's WAN),
# accepts what its port forwards let in, and runs Debian's miniupnpd
# (the iptables one: it keeps its rules in the legacy tables, which the
# kernel runs beside the nft ones) with UPnP IGD and NAT-PMP on the LAN,
# each yes (default) or no. Its log is $LAB_TMP/miniupnpd.log. Returns
# once it listens.
lab_upnp_router() {
	local upnp=${1:-yes} natpmp=${2:-yes} n t L=iptables-legacy
	if ! command -v miniupnpd >/dev/null || ! command -v $L >/dev/null; then
		echo "lab: installing miniupnpd-iptables" >&2
		_lab_apt miniupnpd-iptables || { apt-get update -qq && _lab_apt miniupnpd-iptables; } || return 1
	fi
	_lab_do lab_exec r1 ip addr add "$LAB_R1_PUBLIC/32" dev wan
	_lab_ipt r1 -t nat -I POSTROUTING -o wan -j SNAT --to-source "$LAB_R1_PUBLIC"
	_lab_ipt r1 -I FORWARD -i wan -o lan -m conntrack --ctstate DNAT -j ACCEPT
	for n in relay pub2 r2; do
		_lab_do lab_exec "$n" ip route add "$LAB_R1_PUBLIC/32" via "$LAB_R1_WAN"
	done
	# The chains miniupnpd fills (Debian's iptables_init.sh, which the
	# package's init script would run).
	for t in nat mangle filter; do
		_lab_do lab_exec r1 $L -t $t -N MINIUPNPD
	done
	_lab_do lab_exec r1 $L -t nat -N MINIUPNPD-POSTROUTING
	_lab_do lab_exec r1 $L -t nat -A PREROUTING -i wan -j MINIUPNPD
	_lab_do lab_exec r1 $L -t nat -A POSTROUTING -o wan -j MINIUPNPD-POSTROUTING
	_lab_do lab_exec r1 $L -t mangle -A PREROUTING -i wan -j MINIUPNPD
	_lab_do lab_exec r1 $L -t filter -A FORWARD -i wan ! -o wan -j MINIUPNPD
	cat >"$LAB_TMP/miniupnpd.conf" <<EOC
ext_ifname=wan
ext_ip=$LAB_R1_PUBLIC
listening_ip=lan
http_port=0
enable_upnp=$upnp
enable_natpmp=$natpmp
secure_mode=yes
system_uptime=yes
uuid=6d746c61-6200-4000-8000-$(printf '%012d' $$)
lease_file=$LAB_TMP/miniupnpd.leases
allow 1024-65535 $LAB_LAN1_NET 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOC
	[ "$LAB_ERR" -eq 0 ] || return 1
	lab_bg r1 "$LAB_TMP/miniupnpd.log" miniupnpd -f "$LAB_TMP/miniupnpd.conf" -d
	lab_wait_log "$LAB_TMP/miniupnpd.log" "Listening for NAT-PMP\|HTTP listening" && return 0
	echo "lab: miniupnpd did not start:" >&2
	cat "$LAB_TMP/miniupnpd.log" >&2
	return 1
}

# lab_forwards: r1's port forwards, one a line: the filter rules miniupnpd
# adds beside each DNAT, which name the LAN host and port (iptables prints
# the DNAT rules themselves without their target).
lab_forwards() {
	lab_exec r1 iptables-legacy -S MINIUPNPD | grep -- "-j ACCEPT" || true
}

# lab_wait_log LOG PATTERN [SECONDS]: until grep finds PATTERN in LOG
# (default 5 s); 1 if it never does.
lab_wait_log() {
	local i
	for i in $(seq $((${3:-5} * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# lab_bg NODE LOG cmd...: ip netns exec execs the command, so $! is the
# process itself and lab_down can kill it.
lab_bg() {
	local node=$1 log=$2
	shift 2
	ip netns exec "$LAB_PREFIX$node" "$@" >"$log" 2>&1 &
	LAB_PIDS+=($!)
}

# lab_echo_server NODE tcp|udp PORT [LIFETIME_S]: returns once it listens.
lab_echo_server() {
	local log="$LAB_TMP/$1-$2-$3.log"
	lab_bg "$1" "$log" python3 "$LAB_PROBE" "$2-echo-server" "$3" "${4:-30}"
	lab_wait_log "$log" '^ready' && return 0
	echo "lab: $2 echo server on $1:$3 did not start:" >&2
	cat "$log" >&2
	return 1
}

lab_probe() {
	local node=$1
	shift
	lab_exec "$node" python3 "$LAB_PROBE" "$@"
}

# lab_dump: state for a failure report (addresses, routes, rules, conntrack).
lab_dump() {
	local n
	for n in "${LAB_NODES[@]}"; do
		echo "--- $n"
		lab_exec "$n" ip -br addr 2>&1
		lab_exec "$n" ip route 2>&1
	done
	for n in r1 r2; do
		echo "--- $n rules / conntrack"
		lab_exec "$n" "$LAB_IPT" -S 2>&1
		lab_exec "$n" "$LAB_IPT" -t nat -S 2>&1
		lab_exec "$n" conntrack -L 2>&1
	done
}
