package plugwire

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// ---- tcp authentication (protocol.md §4), with hostile local peers --------------------------

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// authListener serves acceptAuthenticated on a loopback port; each connection that gets
// through arrives on the returned channel.
func authListener(t *testing.T, token string, timeout time.Duration) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan net.Conn, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		acceptAuthenticated(ln, token, timeout, func(c net.Conn) { served <- c })
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for len(served) > 0 {
			(<-served).Close()
		}
	})
	return ln.Addr().String(), served
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer waits (bounded) for the peer to close c, and returns what it sent first.
func closedByPeer(t *testing.T, c net.Conn, within time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the connection was not closed within %v: %v", within, err)
	}
	return got
}

func acked(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != tcpAuthAck {
		t.Fatalf("no 0x06 for the right token: %v %v", b, err)
	}
	c.SetReadDeadline(time.Time{})
}

func served(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the authenticated connection was not handed on")
		return nil
	}
}

func TestTCPAuth_aWrongTokenIsClosedWithoutAnAckAndNeverServed(t *testing.T) {
	addr, ch := authListener(t, testToken, 5*time.Second)
	c := dialTCP(t, addr)
	io.WriteString(c, strings.Repeat("f", authTokenLength))
	if got := closedByPeer(t, c, 5*time.Second); len(got) != 0 {
		t.Fatalf("a wrong token got bytes back: %v", got)
	}
	select {
	case <-ch:
		t.Fatal("a connection with a wrong token was served")
	default:
	}
}

func TestTCPAuth_aShortTokenThenEOFIsClosed(t *testing.T) {
	addr, ch := authListener(t, testToken, 5*time.Second)
	c := dialTCP(t, addr)
	io.WriteString(c, testToken[:authTokenLength-1])
	c.(*net.TCPConn).CloseWrite()
	if got := closedByPeer(t, c, 5*time.Second); len(got) != 0 {
		t.Fatalf("a short token got bytes back: %v", got)
	}
	if len(ch) != 0 {
		t.Fatal("a connection with a short token was served")
	}
}

func TestTCPAuth_aSilentConnectionIsClosedAfterTheTimeoutAndDoesNotHoldUpTheHost(t *testing.T) {
	addr, ch := authListener(t, testToken, 300*time.Millisecond)
	silent := dialTCP(t, addr)
	// The host connects while the silent one is still waiting to be checked.
	host := dialTCP(t, addr)
	io.WriteString(host, testToken)
	acked(t, host)
	served(t, ch)
	if got := closedByPeer(t, silent, 5*time.Second); len(got) != 0 {
		t.Fatalf("a silent connection got bytes: %v", got)
	}
}

func TestTCPAuth_theRightTokenAfterAWrongOneIsAckedAndServed(t *testing.T) {
	addr, ch := authListener(t, testToken, 5*time.Second)
	wrong := dialTCP(t, addr)
	io.WriteString(wrong, strings.Replace(testToken, "0", "1", 1))
	closedByPeer(t, wrong, 5*time.Second)
	host := dialTCP(t, addr)
	// Bytes after the token (the host's first yamux frame) stay for the session.
	io.WriteString(host, testToken+"after")
	acked(t, host)
	c := served(t, ch)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest := make([]byte, 5)
	if _, err := io.ReadFull(c, rest); err != nil || string(rest) != "after" {
		t.Fatalf("the bytes after the token: %q %v", rest, err)
	}
}

func TestTCPAuth_withoutATokenEveryConnectionIsServedAsItIs(t *testing.T) {
	addr, ch := authListener(t, "", 5*time.Second)
	c := dialTCP(t, addr)
	io.WriteString(c, "x")
	s := served(t, ch)
	b := make([]byte, 1)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, b); err != nil || b[0] != 'x' {
		t.Fatalf("the first byte was consumed: %q %v", b, err)
	}
}

// The host's side: a peer that closes instead of answering fails with PLUGWIRE_TCP_AUTH,
// as does one that answers another byte; one that never answers fails at the deadline.
func TestTCPAuth_theHostFailsWithItsCodeWhenThePeerDoesNotAck(t *testing.T) {
	for name, answer := range map[string]func(net.Conn){
		"closes":       func(c net.Conn) { c.Close() },
		"answers 0x15": func(c net.Conn) { c.Write([]byte{0x15}); c.Close() },
		"says nothing": func(c net.Conn) {},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				b := make([]byte, authTokenLength)
				if _, err := io.ReadFull(c, b); err == nil {
					answer(c)
				}
				io.Copy(io.Discard, c)
			}()
			c := dialTCP(t, ln.Addr().String())
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = presentToken(ctx, c, testToken, ln.Addr().String(), func() string { return "(no stderr)" })
			if Code(err) != ErrCodeTCPAuth {
				t.Fatalf("expected %s, got %v", ErrCodeTCPAuth, err)
			}
		})
	}
}

func TestTCPAuth_theHostsTokenIsAckedByThePluginSide(t *testing.T) {
	token, err := newAuthToken()
	if err != nil || len(token) != authTokenLength || strings.Trim(token, "0123456789abcdef") != "" {
		t.Fatalf("token %q: %v", token, err)
	}
	addr, ch := authListener(t, token, 5*time.Second)
	c := dialTCP(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := presentToken(ctx, c, token, addr, func() string { return "" }); err != nil {
		t.Fatal(err)
	}
	served(t, ch)
}

// The plugin takes the token out of its environment, so that what it starts (exec.Command
// inherits os.Environ) cannot read it.
func TestTCPAuth_thePluginRemovesTheTokenFromItsEnvironment(t *testing.T) {
	t.Setenv(envAuthToken, testToken)
	if got := takeAuthToken(); got != testToken {
		t.Fatalf("took %q", got)
	}
	if v, ok := os.LookupEnv(envAuthToken); ok {
		t.Fatalf("%s is still set: %q", envAuthToken, v)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, envAuthToken+"=") {
			t.Fatalf("%s is still in os.Environ()", envAuthToken)
		}
	}
}
