// Package loopback says whether an address stays on this machine: jit
// allows plain HTTP, insecure gRPC and its fake clouds only there.
package loopback

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Host reports whether a host name or IP literal is loopback: localhost
// and *.localhost (RFC 6761), 127.0.0.0/8 and ::1.
func Host(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// URL reports whether a URL's host is loopback.
func URL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Hostname() != "" && Host(u.Hostname())
}

// CheckAddr accepts a host:port listen address only on loopback.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("addr %q: %w", addr, err)
	}
	if !Host(host) {
		return fmt.Errorf("addr %q is not a loopback address; use 127.0.0.1:<port>", addr)
	}
	return nil
}
