// Command go-conformance is the Go reference plugin of the conformance kit, written with the
// Go sdk (../../go): `plugwire conformance -- ./go-conformance` passes every item
// (docs/protocol.md §14).
package main

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	plugwire "github.com/plugwire/plugwire/go"
)

// Reference serves the conformance interface.
type Reference struct{ cancelled atomic.Int64 }

func (*Reference) Echo(v any) any { return v }

func (*Reference) Fail(code, message string) error {
	return &plugwire.Error{Code: code, Message: message}
}

// Callback calls the host's fn(i) for i = 1…n in turn and sums its results.
func (*Reference) Callback(ctx context.Context, n int, fn func(context.Context, int) (int, error)) (int, error) {
	sum := 0
	for i := 1; i <= n; i++ {
		v, err := fn(ctx, i)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// BytesOut is a byte stream of n bytes, byte i being i % 251.
func (*Reference) BytesOut(n int) io.Reader {
	r, w := io.Pipe()
	go func() {
		buf := make([]byte, 64<<10)
		for sent := 0; sent < n; {
			k := len(buf)
			if n-sent < k {
				k = n - sent
			}
			for i := 0; i < k; i++ {
				buf[i] = byte((sent + i) % 251)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			sent += k
		}
		w.Close()
	}()
	return r
}

// BytesIn reads a byte stream: its size and the sum of its bytes mod 65521.
func (*Reference) BytesIn(r io.ReadCloser) (map[string]int, error) {
	defer r.Close()
	buf := make([]byte, 64<<10)
	size, sum := 0, 0
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			sum = (sum + int(b)) % 65521
		}
		size += n
		if err == io.EOF {
			return map[string]int{"size": size, "sum": sum}, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ItemsOut is an object stream of 1…n.
func (*Reference) ItemsOut(n int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}()
	return ch
}

// ItemsIn sums an object stream of numbers.
func (*Reference) ItemsIn(ctx context.Context, items *plugwire.Items) (int, error) {
	defer items.Close()
	sum := 0
	for {
		var v int
		ok, err := items.Next(ctx, &v)
		if err != nil || !ok {
			return sum, err
		}
		sum += v
	}
}

// Hang answers only when cancelled.
func (r *Reference) Hang(ctx context.Context) error {
	<-ctx.Done()
	r.cancelled.Add(1)
	return ctx.Err()
}

func (r *Reference) Cancelled() int64 { return r.cancelled.Load() }

func (*Reference) Size(data []byte) int { return len(data) }

func (*Reference) Sleep(ctx context.Context, ms int) int {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-ctx.Done():
	}
	return ms
}

func main() {
	plugwire.Serve(&plugwire.ServeConfig{Plugins: map[string]any{"conformance": &Reference{}}})
}
