// Command latency-proxy forwards TCP connections on loopback to a loopback
// server, adding a round-trip time: each chunk of data is delivered half the
// round trip after it was sent, in either direction, and a new connection's
// first data waits one more round trip, as a TCP handshake would. `make bench`
// puts it in front of the fake STS to see how jit compares with the minimal
// program when STS is as far away as AWS is (tens of milliseconds) rather
// than a loopback call away.
//
// It prints its address on the first line of stdout and exits after -for.
// It only listens on and connects to loopback addresses.
//
// It is a benchmark helper, not part of jit.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	to := flag.String("to", "", "loopback host:port to forward to")
	rtt := flag.Duration("rtt", 20*time.Millisecond, "round-trip time to add")
	life := flag.Duration("for", 10*time.Minute, "exit after this long")
	flag.Parse()
	if err := run(*to, *rtt, *life); err != nil {
		fmt.Fprintln(os.Stderr, "latency-proxy:", err)
		os.Exit(1)
	}
}

func run(to string, rtt, life time.Duration) error {
	host, _, err := net.SplitHostPort(to)
	if err != nil {
		return fmt.Errorf("-to %q: %w", to, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-to %s is not a loopback address", to)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	time.AfterFunc(life, func() { os.Exit(0) })
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go forward(c, to, rtt)
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

func forward(client net.Conn, to string, rtt time.Duration) {
	defer client.Close()
	server, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { pipe(server, client, rtt/2, rtt); done <- struct{}{} }()
	go func() { pipe(client, server, rtt/2, 0); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, delivering each chunk delay after it was read; the
// first chunk waits extra longer.
func pipe(dst io.WriteCloser, src io.Reader, delay, extra time.Duration) {
	q := make(chan chunk, 64)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{at: time.Now().Add(delay + extra), data: b[:n]}
				extra = 0
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	for range q { // drain, so the reader can finish
	}
	dst.Close()
}
