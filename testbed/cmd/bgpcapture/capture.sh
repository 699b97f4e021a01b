#!/usr/bin/env bash
# capture.sh OUTDIR: records the messages FRR and BIRD send to bgpcapture,
# each in its own pair of network namespaces (bgpcap-h runs bgpcapture on
# 10.99.0.1, bgpcap-r runs the router on 10.99.0.2; iBGP, AS 64512, so
# LOCAL_PREF is sent). Each router announces 198.51.100.0/24,
# 203.0.113.7/32 and 2001:db8:100::/48 with communities 64512:100 and
# no-export, extended community rt 64512:7, large community 64512:1:2,
# LOCAL_PREF 250 and MED 10, then is told to shut the session down with the
# RFC 9003 message "maintenance window", which produces the NOTIFICATION.
# Needs root, frr and bird2. Cleans up its namespaces and daemons on exit.
set -euo pipefail
OUT=$(realpath "${1:?usage: capture.sh OUTDIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/bgpcapture.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	ip netns del bgpcap-h 2>/dev/null || true
	ip netns del bgpcap-r 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$HERE/../.." && go build -o "$WORK/bgpcapture" ./cmd/bgpcapture)

netns_up() {
	ip netns add bgpcap-h
	ip netns add bgpcap-r
	ip link add bgpcap0 netns bgpcap-h type veth peer name bgpcap1 netns bgpcap-r
	ip -n bgpcap-h addr add 10.99.0.1/24 dev bgpcap0
	ip -n bgpcap-h addr add 2001:db8:99::1/64 dev bgpcap0 nodad
	ip -n bgpcap-r addr add 10.99.0.2/24 dev bgpcap1
	ip -n bgpcap-r addr add 2001:db8:99::2/64 dev bgpcap1 nodad
	for ns in bgpcap-h bgpcap-r; do ip -n $ns link set lo up; done
	ip -n bgpcap-h link set bgpcap0 up
	ip -n bgpcap-r link set bgpcap1 up
	sleep 2 # link-local addresses (FRR sends one as the second IPv6 next hop)
}

netns_down() {
	ip netns del bgpcap-h
	ip netns del bgpcap-r
}

# stop_daemons ends the routers this script started (their pids are those
# of the `ip netns exec` that exec'd them).
stop_daemons() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}

start_capture() { # name
	ip netns exec bgpcap-h "$WORK/bgpcapture" -listen 10.99.0.1:179 -id 10.99.0.1 -out "$OUT" -name "$1" -timeout 30s &
	CAPTURE=$!
	PIDS+=("$CAPTURE")
	sleep 0.5
}

frr() {
	mkdir -p "$WORK/frr"
	cat >"$WORK/frr/bgpd.conf" <<-'CONF'
	frr defaults traditional
	hostname bgpcap-frr
	router bgp 64512
	 bgp router-id 10.99.0.2
	 no bgp ebgp-requires-policy
	 no bgp network import-check
	 neighbor 10.99.0.1 remote-as 64512
	 neighbor 10.99.0.1 timers connect 1
	 address-family ipv4 unicast
	  network 198.51.100.0/24 route-map TAG
	  network 203.0.113.7/32 route-map TAG
	  neighbor 10.99.0.1 send-community all
	 exit-address-family
	 address-family ipv6 unicast
	  network 2001:db8:100::/48 route-map TAG
	  neighbor 10.99.0.1 activate
	  neighbor 10.99.0.1 send-community all
	 exit-address-family
	route-map TAG permit 10
	 set community 64512:100 no-export
	 set extcommunity rt 64512:7
	 set large-community 64512:1:2
	 set local-preference 250
	 set metric 10
	CONF
	: >"$WORK/frr/zebra.conf"
	start_capture frr
	ip netns exec bgpcap-r /usr/lib/frr/zebra -S -z "$WORK/frr/zserv.api" -i "$WORK/frr/zebra.pid" \
		--vty_socket "$WORK/frr" -f "$WORK/frr/zebra.conf" --log stdout >"$WORK/frr/zebra.log" 2>&1 &
	PIDS+=($!)
	sleep 1
	ip netns exec bgpcap-r /usr/lib/frr/bgpd -S -z "$WORK/frr/zserv.api" -i "$WORK/frr/bgpd.pid" \
		--vty_socket "$WORK/frr" -f "$WORK/frr/bgpd.conf" --log stdout >"$WORK/frr/bgpd.log" 2>&1 &
	PIDS+=($!)
	sleep 8 # session up, initial UPDATEs sent
	ip netns exec bgpcap-r vtysh --vty_socket "$WORK/frr" -c 'configure terminal' -c 'router bgp 64512' \
		-c 'neighbor 10.99.0.1 shutdown message maintenance window'
	wait "$CAPTURE"
	stop_daemons
}

bird() {
	cat >"$WORK/bird.conf" <<-'CONF'
	router id 10.99.0.2;
	protocol device {}
	protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; route 203.0.113.7/32 blackhole; }
	protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }
	filter capture_tags {
		bgp_community.add((64512,100));
		bgp_community.add((65535,65281));
		bgp_ext_community.add((rt,64512,7));
		bgp_large_community.add((64512,1,2));
		bgp_local_pref = 250;
		bgp_med = 10;
		accept;
	}
	protocol bgp capture {
		local 10.99.0.2 as 64512;
		neighbor 10.99.0.1 as 64512;
		connect retry time 1;
		ipv4 { import none; export filter capture_tags; };
		ipv6 { import none; export filter capture_tags; next hop address 2001:db8:99::2; };
	}
	CONF
	start_capture bird
	ip netns exec bgpcap-r bird -f -c "$WORK/bird.conf" -s "$WORK/bird.ctl" -P "$WORK/bird.pid" >"$WORK/bird.log" 2>&1 &
	PIDS+=($!)
	sleep 8
	ip netns exec bgpcap-r birdc -s "$WORK/bird.ctl" disable capture '"maintenance window"'
	wait "$CAPTURE"
	stop_daemons
}

mkdir -p "$OUT"
netns_up
frr || { cat "$WORK"/frr/*.log; exit 1; }
netns_down
netns_up
bird || { cat "$WORK/bird.log"; exit 1; }
