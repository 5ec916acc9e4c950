//go:build unix

package syslog

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peek tells, without waiting and without consuming anything, whether the
// TCP connection under c (a *net.TCPConn or a *tls.Conn over one) has been
// closed or reset by the server: a MSG_PEEK|MSG_DONTWAIT receive returns 0
// bytes at the end of the stream and the socket's error after a reset.
// Pending data, which TLS may have (a session ticket), is not a failure.
func peek(c net.Conn) error {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = nc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return probe(c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var rerr error
	var b [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		return err
	}
	switch {
	case errors.Is(rerr, unix.EAGAIN), errors.Is(rerr, unix.EWOULDBLOCK):
		return nil
	case rerr != nil:
		return rerr
	case n == 0:
		return errors.New("the server closed the connection")
	}
	return nil
}
