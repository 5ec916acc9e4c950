//go:build !unix

package syslog

import "net"

// peek tells whether the server closed or reset c; without a non-blocking
// peek on this system, it waits briefly for news like probe.
func peek(c net.Conn) error { return probe(c) }
