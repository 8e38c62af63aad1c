// Command plugin is a plugwire plugin written in Go with the Go sdk (../../../go). It
// serves "calc", which a TypeScript host (or a Go host) dispenses and calls:
//
//	add(a, b)                 a + b
//	echo(v)                   v, any value (bytes too)
//	upper(s)                  s in capitals
//	fail()                    an application error with a code
//	hang()                    answers only when cancelled
//	sum(n, onProgress)        1+…+n, calling the host's onProgress(i) on the way
//	bytes(n)                  a byte stream of n bytes (0, 1, 2… mod 256)
//	digest(stream)            the length and a checksum of a byte stream from the host
//	count(n)                  an object stream of 1…n
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	plugwire "github.com/plugwire/plugwire/go"
)

// Calc is the plugin's implementation: its exported methods are served, under their
// names with a lower-case first letter.
type Calc struct{}

func (Calc) Add(a, b float64) float64 { return a + b }

func (Calc) Echo(v any) any { return v }

func (Calc) Upper(s string) string { return strings.ToUpper(s) }

func (Calc) Fail() error {
	return &plugwire.Error{Message: "failed on purpose", Code: "E_PURPOSE"}
}

// Hang returns when the host cancels the call (or the connection ends).
func (Calc) Hang(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Sum calls back into the host for every step: the callback is a function of the host's.
func (Calc) Sum(ctx context.Context, n int, onProgress func(context.Context, int) error) (int, error) {
	total := 0
	for i := 1; i <= n; i++ {
		total += i
		if onProgress != nil {
			if err := onProgress(ctx, i); err != nil {
				return 0, fmt.Errorf("onProgress(%d): %w", i, err)
			}
		}
	}
	return total, nil
}

// Bytes returns a byte stream: the host reads it as a Node Readable.
func (Calc) Bytes(n int) io.Reader {
	r, w := io.Pipe()
	go func() {
		buf := make([]byte, 32<<10)
		for sent := 0; sent < n; {
			k := min(len(buf), n-sent)
			for i := 0; i < k; i++ {
				buf[i] = byte(sent + i)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return // the host stopped reading
			}
			sent += k
		}
		w.Close()
	}()
	return r
}

// Digest reads a byte stream the host passed (a Node Readable).
func (Calc) Digest(r io.ReadCloser) (map[string]int, error) {
	defer r.Close()
	buf := make([]byte, 32<<10)
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

// Count returns an object stream: the host iterates it with for await.
func (Calc) Count(n int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}()
	return ch
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func main() {
	log := plugwire.NewLogger("calc")
	plugwire.Serve(&plugwire.ServeConfig{
		Plugins: map[string]any{"calc": Calc{}},
		Logger:  log,
		Start: func(context.Context) error {
			log.Info("go plugin serving", "pid", os.Getpid())
			return nil
		},
	})
}
