package plugwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// tcp authentication (protocol.md §4): any local user can connect to a loopback port, so a
// tcp connection starts with the start's secret, and the plugin answers it with one byte.
const (
	envAuthToken = "PLUGWIRE_AUTH_TOKEN"
	// authTokenLength is the token's length on the wire: 32 random bytes as lowercase hex.
	authTokenLength = 64
	// tcpAuthAck is the plugin's answer to the right token.
	tcpAuthAck = 0x06
	// tokenTimeout bounds how long a connection may take to send its token. The host sends
	// it right after connecting: this only bounds others that say nothing.
	tokenTimeout = 5 * time.Second
)

// newAuthToken makes the secret of one start.
func newAuthToken() (string, error) {
	b := make([]byte, authTokenLength/2)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// takeAuthToken reads the host's token and removes it from the environment, so that
// processes the plugin starts do not inherit it. "" means the host opted out.
func takeAuthToken() string {
	token := os.Getenv(envAuthToken)
	os.Unsetenv(envAuthToken)
	return token
}

// checkToken reads exactly the first authTokenLength bytes of conn within timeout and
// compares them with token in constant time. On a match it answers tcpAuthAck and returns
// nil; otherwise the caller closes the connection.
func checkToken(conn net.Conn, token string, timeout time.Duration) error {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	got := make([]byte, authTokenLength)
	if _, err := io.ReadFull(conn, got); err != nil {
		return newError(ErrCodeTCPAuth, "no tcp token", err)
	}
	if len(token) != authTokenLength || subtle.ConstantTimeCompare(got, []byte(token)) != 1 {
		return newError(ErrCodeTCPAuth, "wrong tcp token", nil)
	}
	if _, err := conn.Write([]byte{tcpAuthAck}); err != nil {
		return newError(ErrCodeTCPAuth, "cannot answer the tcp token", err)
	}
	return conn.SetDeadline(time.Time{})
}

// acceptAuthenticated accepts connections on ln and hands each one that presents token
// (every one when token is "") to serve, in order of authentication. Each check runs on
// its own goroutine, so a connection that sends nothing, or sends slowly, delays nobody.
// It returns when ln fails (closed).
func acceptAuthenticated(ln net.Listener, token string, timeout time.Duration, serve func(net.Conn)) error {
	authed := make(chan net.Conn)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case conn := <-authed:
				serve(conn)
			case <-done:
				return
			}
		}
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		if token == "" {
			select {
			case authed <- conn:
			case <-done:
				conn.Close()
			}
			continue
		}
		go func(conn net.Conn) {
			if err := checkToken(conn, token, timeout); err != nil {
				conn.Close()
				return
			}
			select {
			case authed <- conn:
			case <-done:
				conn.Close()
			}
		}(conn)
	}
}

// presentToken is the host's side: it writes the token right after connecting and waits
// for the plugin's tcpAuthAck, within ctx's deadline.
// stderrTail adds the plugin's last stderr lines to the error.
func presentToken(ctx context.Context, conn net.Conn, token, address string, stderrTail func() string) error {
	refused := func(why string, cause error) error {
		return newError(ErrCodeTCPAuth, "the plugin at tcp:"+address+" "+why+
			": it is not the plugin this host started, or it does not implement tcp authentication (see ClientConfig.InsecureTCP); "+
			stderrTail(), cause)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(60 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// A cancelled ctx ends the wait at once, not only its deadline.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			conn.SetDeadline(time.Now())
		case <-finished:
		}
	}()
	if _, err := io.WriteString(conn, token); err != nil {
		return refused("did not take the token", err)
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(conn, ack); err != nil {
		var ne net.Error
		if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return refused("did not answer the token within the start deadline", err)
		}
		return refused("closed the connection instead of accepting the token", err)
	}
	if ack[0] != tcpAuthAck {
		return refused("answered the token with byte "+strconv.Itoa(int(ack[0])), nil)
	}
	return conn.SetDeadline(time.Time{})
}
