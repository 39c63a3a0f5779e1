package main

import "net/netip"

// devNetwork is how corral dev's agents attach tasks to CNI networks.
type devNetwork struct {
	isolation   string
	configDir   string
	pluginsDirs []string
	dns         []string
}

// devNetworkOf reads dev's network flags. CNI networks need linux
// containers, so a CNI configuration turns the posix default into linux;
// and containers on them are pointed at dev's own DNS server when it
// listens where they can reach it (port 53, not loopback).
func devNetworkOf(s *settings) devNetwork {
	n := devNetwork{isolation: s.String("isolation"), configDir: s.String("network-cni-config-dir"),
		pluginsDirs: splitPath(s.String("network-cni-plugins-dir")), dns: splitList(s.String("dns"))}
	if n.configDir == "" {
		return n
	}
	if n.isolation == "posix" {
		n.isolation = "linux"
	}
	if len(n.dns) == 0 {
		if ap, err := netip.ParseAddrPort(s.String("dns-listen")); err == nil && ap.Port() == 53 &&
			!ap.Addr().IsLoopback() && !ap.Addr().IsUnspecified() {
			n.dns = []string{ap.Addr().String()}
		}
	}
	return n
}
