package plugwire

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// DefaultBrokerTimeout is how long an accept waits for its dial, a dialled stream for its
// accept, and a dial for its ack (protocol.md §7; go-plugin's 5 s).
const DefaultBrokerTimeout = 5 * time.Second

// broker is go-plugin's MuxBroker over a yamux session (protocol.md §7): extra streams
// addressed by an id. The dialer writes the id (uint32, little-endian); the acceptor, once
// accept(id) was called, writes it back; then the stream is a plain byte stream.
type broker struct {
	session *yamux.Session
	timeout time.Duration
	mu      sync.Mutex
	next    uint32
	pending map[uint32]chan net.Conn
	held    map[uint32]*heldStream
	closed  bool
}

type heldStream struct {
	conn  net.Conn
	timer *time.Timer
}

func newBroker(s *yamux.Session, host bool, timeout time.Duration) *broker {
	if timeout <= 0 {
		timeout = DefaultBrokerTimeout
	}
	b := &broker{session: s, timeout: timeout, pending: map[uint32]chan net.Conn{}, held: map[uint32]*heldStream{}}
	// The host mints odd ids, the plugin even ones (protocol.md §7).
	if host {
		b.next = 1
	} else {
		b.next = 2
	}
	return b
}

func (b *broker) nextID() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next += 2
	return id
}

// accept waits (up to the timeout, or until ctx ends) for the peer to dial id, acks it and
// returns the stream. An id serves one dial.
func (b *broker) accept(ctx context.Context, id uint32) (net.Conn, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := b.pending[id]; dup {
		b.mu.Unlock()
		return nil, newError(ErrCodeBroker, fmt.Sprintf("broker id %d: accept is already waiting", id), nil)
	}
	if h, ok := b.held[id]; ok {
		delete(b.held, id)
		h.timer.Stop()
		b.mu.Unlock()
		return b.ack(id, h.conn)
	}
	ch := make(chan net.Conn, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	giveUp := func(err error) (net.Conn, error) {
		b.mu.Lock()
		if b.pending[id] == ch {
			delete(b.pending, id)
		}
		b.mu.Unlock()
		select {
		case c := <-ch: // a dial that arrived at the same moment
			if c != nil {
				c.Close()
			}
		default:
		}
		return nil, err
	}
	select {
	case c := <-ch:
		if c == nil {
			return nil, ErrClosed
		}
		return b.ack(id, c)
	case <-t.C:
		return giveUp(newError(ErrCodeBroker, fmt.Sprintf("broker id %d: no dial arrived within %s", id, b.timeout), nil))
	case <-ctx.Done():
		return giveUp(newError(ErrCodeCancelled, fmt.Sprintf("broker id %d: accept", id), ctx.Err()))
	}
}

func (b *broker) ack(id uint32, c net.Conn) (net.Conn, error) {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], id)
	if _, err := c.Write(a[:]); err != nil {
		c.Close()
		return nil, newError(ErrCodeBroker, fmt.Sprintf("broker id %d: cannot ack", id), err)
	}
	return c, nil
}

// dial opens a stream to the peer's id and waits for the ack.
func (b *broker) dial(ctx context.Context, id uint32) (net.Conn, error) {
	c, err := b.session.Open()
	if err != nil {
		return nil, newError(ErrCodeClosed, "cannot open a stream", err)
	}
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], id)
	deadline := time.Now().Add(b.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			_ = c.SetDeadline(time.Now())
		case <-finished:
		}
	}()
	if _, err := c.Write(a[:]); err != nil {
		c.Close()
		return nil, newError(ErrCodeBroker, fmt.Sprintf("broker id %d: cannot dial", id), err)
	}
	var got [4]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, newError(ErrCodeCancelled, fmt.Sprintf("broker id %d: dial", id), ctx.Err())
		}
		return nil, newError(ErrCodeBroker, fmt.Sprintf("broker id %d: the peer did not accept the dial", id), err)
	}
	if binary.LittleEndian.Uint32(got[:]) != id {
		c.Close()
		return nil, newError(ErrCodeBroker, fmt.Sprintf("broker id %d: bad ack %d", id, binary.LittleEndian.Uint32(got[:])), nil)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// handle reads the id an incoming stream starts with (with a deadline, in its own
// goroutine: one silent dialer holds up nobody) and hands the stream to its accept, or holds
// it until one comes.
func (b *broker) handle(c net.Conn) {
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(b.timeout))
		var a [4]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			c.Close()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		id := binary.LittleEndian.Uint32(a[:])
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.closed {
			c.Close()
			return
		}
		if ch, ok := b.pending[id]; ok {
			delete(b.pending, id)
			ch <- c
			return
		}
		if _, ok := b.held[id]; ok {
			c.Close() // an id serves one dial
			return
		}
		h := &heldStream{conn: c}
		h.timer = time.AfterFunc(b.timeout, func() {
			b.mu.Lock()
			if b.held[id] == h {
				delete(b.held, id)
			}
			b.mu.Unlock()
			c.Close()
		})
		b.held[id] = h
	}()
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for id, ch := range b.pending {
		delete(b.pending, id)
		close(ch)
	}
	for id, h := range b.held {
		h.timer.Stop()
		h.conn.Close()
		delete(b.held, id)
	}
}
