// Command yamuxpeer is the Go end of @plugwire/mux's interop tests
// (packages/mux/test/interop.test.ts). It dials the unix socket the test listens on,
// runs HashiCorp's yamux (github.com/hashicorp/yamux) over it in the role it is given
// and plays one scenario against the Node side. Only the Go standard library and yamux
// are used, so it builds in GOPATH mode against Debian's packages:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o yamuxpeer main.go
//
// Usage: yamuxpeer [flags] <scenario>; `yamuxpeer -h` lists the scenarios.
//
// Reporting: exit status 0 means the Go side saw exactly what it expected. A failure
// prints "yamuxpeer: <scenario>: FAIL: <why>" to stderr and exits 1 at once. Lines on
// stdout are messages to the test ("sha256 <hex>", "id <n>", "blocked <n>", ...). Once
// its part succeeded the peer prints "done" and waits for the Node side to close the
// session (so that its own close never cuts off frames still in flight), then exits 0.
// Lines on stdin are the test's messages to the peer ("accept", "dial <id>").
//
// A limit of this yamux version (the 2019 one Debian ships, as used by go-plugin 1.0.x):
// after a stream's own Close (its FIN), Read returns io.EOF as soon as the receive
// buffer is empty, even though the peer may still send. So a Go stream that half-closed
// cannot wait for the peer's answer by reading; the scenarios below either read what
// they need before closing, or learn from a later frame (the peer opening another
// stream, frames being handled in order) that the answer is already buffered.
// Newer hashicorp/yamux releases read normally after Close ("LocalClose only prohibits
// further local writes").
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

var (
	sockPath = flag.String("sock", "", "unix socket to dial (the Node side listens)")
	role     = flag.String("role", "server", "yamux role of this side: client or server")
	count    = flag.Int("n", 100, "number of streams (echo scenarios)")
	size     = flag.Int("size", 1<<20, "bytes per stream")
	wantSHA  = flag.String("sha", "", "expected sha256 of the received bytes, hex (sink)")
	backlog  = flag.Int("backlog", 256, "yamux AcceptBacklog")
	window   = flag.Uint("window", 256<<10, "yamux MaxStreamWindowSize")
	stall    = flag.Duration("stall", 500*time.Millisecond, "write deadline while the Node reader does not read (flow)")
	timeout  = flag.Duration("timeout", 60*time.Second, "give up (and fail) after this long")
)

const chunkSize = 64 << 10

// A scenario plays its part over a yamux session; nil means the Go side is satisfied.
type scenario struct {
	help string
	run  func(sess *yamux.Session) error
}

var scenarios = map[string]scenario{
	"echo-server":       {"accept streams and echo each; after the session ends, check that -n streams of -size bytes were echoed", echoServer},
	"echo-client":       {"open -n streams at once, send -size random bytes on each and check the echo byte for byte", echoClient},
	"push":              {"open a stream, print its sha256, write -size random bytes, close (FIN)", push},
	"sink":              {"accept a stream, read to EOF, check -size and -sha, answer with the hex sha256 and close", sink},
	"halfclose-reply":   {"accept a stream, read it to EOF (the peer half-closed), then answer \"got <n> bytes\" and close", halfCloseReply},
	"halfclose-request": {"open a stream, write -size bytes, close (half-close); once the peer opens a second stream, read the answer \"got <n> bytes\"", halfCloseRequest},
	"reset-by-node":     {"accept a stream, read \"hello\", then block in Read and in Write until the peer's RST: both must fail with ErrConnectionReset", resetByNode},
	"reset-by-go":       {"with -backlog 1, accept nothing until stdin says \"accept\" (so yamux refuses further streams with RST), then echo one stream", resetByGo},
	"ping":              {"ping the peer three times, printing each \"rtt <duration>\"", ping},
	"idle":              {"do nothing until the peer closes the session (yamux answers its pings)", idle},
	"goaway-recv":       {"open a stream, write \"hello\", read \"goaway sent\", check that OpenStream fails with ErrRemoteGoAway, write \"still works\", close", goAwayRecv},
	"goaway-send":       {"accept a stream, read \"hello\", send GoAway, write \"goaway sent\", read \"still works\" to EOF, close", goAwaySend},
	"broker-dial":       {"go-plugin MuxBroker: wait for \"dial <id>\" on stdin, Dial(id), write \"hello from go\", read \"hello from node\" to EOF, close", brokerDial},
	"broker-accept":     {"go-plugin MuxBroker: Run, print \"id <n>\" for NextId(), Accept(n), read \"hello from node\", write \"hello from go\"", brokerAccept},
	"flow":              {"open a stream, print its sha256, write -size bytes with a -stall write deadline, print \"blocked <n>\" when it expires, then write the rest", flow},
	"bench-send":        {"throughput: open a stream, write -size bytes in 64 KiB writes, close", benchSend},
	"bench-recv":        {"throughput: accept a stream, read to EOF, answer with the byte count and close", benchRecv},
}

// Scenarios without yamux: a raw socket to the Node side, or Go alone.
var plainScenarios = map[string]struct {
	help string
	run  func() error
}{
	"raw-sink":    {"throughput floor: read the raw socket to EOF, answer with the byte count", rawSink},
	"raw-source":  {"throughput floor: write -size bytes to the raw socket in 64 KiB writes, then close", rawSource},
	"bench-local": {"throughput: Go to Go over a unix socket of its own, yamux then raw; prints \"yamux|raw <bytes> <ns>\"", benchLocal},
}

var name string

func main() {
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() != 1 {
		usage()
		os.Exit(2)
	}
	name = flag.Arg(0)
	time.AfterFunc(*timeout, func() { fail(fmt.Errorf("still running after %s", *timeout)) })

	if p, ok := plainScenarios[name]; ok {
		if err := p.run(); err != nil {
			fail(err)
		}
		return
	}
	sc, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "yamuxpeer: unknown scenario %q\n", name)
		usage()
		os.Exit(2)
	}
	conn, err := net.Dial("unix", *sockPath)
	if err != nil {
		fail(err)
	}
	sess, err := newSession(conn)
	if err != nil {
		fail(err)
	}
	if err := sc.run(sess); err != nil {
		fail(err)
	}
	say("done")
	<-sess.CloseChan()
}

func usage() {
	w := flag.CommandLine.Output()
	fmt.Fprintf(w, "usage: yamuxpeer [flags] <scenario>\n\nscenarios:\n")
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	for n := range plainScenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		help := scenarios[n].help
		if help == "" {
			help = plainScenarios[n].help
		}
		fmt.Fprintf(w, "  %-18s %s\n", n, help)
	}
	fmt.Fprintf(w, "\nflags:\n")
	flag.PrintDefaults()
}

func newSession(conn net.Conn) (*yamux.Session, error) {
	conf := yamux.DefaultConfig()
	conf.AcceptBacklog = *backlog
	conf.MaxStreamWindowSize = uint32(*window)
	conf.LogOutput = nil
	conf.Logger = log.New(os.Stderr, "yamuxpeer: ", log.Lmicroseconds)
	switch *role {
	case "server":
		return yamux.Server(conn, conf)
	case "client":
		return yamux.Client(conn, conf)
	}
	return nil, fmt.Errorf("-role must be client or server, not %q", *role)
}

var stdoutMu sync.Mutex

// say prints one line for the test to read.
func say(format string, args ...interface{}) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "yamuxpeer: %s: FAIL: %v\n", name, err)
	os.Exit(1)
}

var stdinLines = make(chan string)

func init() {
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			stdinLines <- sc.Text()
		}
		close(stdinLines)
	}()
}

// waitStdin returns the rest of the next stdin line, which must start with prefix.
func waitStdin(prefix string) (string, error) {
	line, ok := <-stdinLines
	if !ok {
		return "", fmt.Errorf("stdin closed while waiting for %q", prefix)
	}
	if !strings.HasPrefix(line, prefix) {
		return "", fmt.Errorf("stdin: got %q, want %q", line, prefix)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, prefix)), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// writeChunks writes b in 64 KiB writes, as a streaming producer would.
func writeChunks(w io.Writer, b []byte) error {
	for off := 0; off < len(b); off += chunkSize {
		if _, err := w.Write(b[off:minInt(off+chunkSize, len(b))]); err != nil {
			return fmt.Errorf("write at offset %d: %w", off, err)
		}
	}
	return nil
}

func readString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

func expectString(r io.Reader, want string) error {
	got, err := readString(r, len(want))
	if err != nil {
		return fmt.Errorf("reading %q: %w", want, err)
	}
	if got != want {
		return fmt.Errorf("read %q, want %q", got, want)
	}
	return nil
}

// expectEOF reads to EOF and checks that exactly want arrived.
func expectEOF(r io.Reader, want string) error {
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading to EOF: %w", err)
	}
	if string(got) != want {
		return fmt.Errorf("read %q before EOF, want %q", got, want)
	}
	return nil
}

// ---- scenarios ----------------------------------------------------------------------

func echoServer(sess *yamux.Session) error {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		streams int
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstEr == nil {
			firstEr = err
		}
	}
	for {
		s, err := sess.AcceptStream()
		if err != nil {
			break // the Node side closed the session
		}
		streams++
		wg.Add(1)
		go func(s *yamux.Stream) {
			defer wg.Done()
			n, err := io.Copy(s, s)
			if err == nil && n != int64(*size) {
				err = fmt.Errorf("echoed %d bytes, want %d", n, *size)
			}
			if err == nil {
				err = s.Close()
			}
			if err != nil {
				record(fmt.Errorf("stream %d: %w", s.StreamID(), err))
			}
		}(s)
	}
	wg.Wait()
	if firstEr != nil {
		return firstEr
	}
	if streams != *count {
		return fmt.Errorf("accepted %d streams, want %d", streams, *count)
	}
	return nil
}

func echoClient(sess *yamux.Session) error {
	errs := make(chan error, *count)
	for i := 0; i < *count; i++ {
		go func() { errs <- echoOnce(sess) }()
	}
	for i := 0; i < *count; i++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

func echoOnce(sess *yamux.Session) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	data := randomBytes(*size)
	written := make(chan error, 1)
	go func() { written <- writeChunks(s, data) }()
	// Read the whole echo before closing: see the note at the top about Read after Close.
	got := make([]byte, len(data))
	if n, err := io.ReadFull(s, got); err != nil {
		return fmt.Errorf("stream %d: reading the echo: %w after %d bytes", s.StreamID(), err, n)
	}
	if err := <-written; err != nil {
		return fmt.Errorf("stream %d: %w", s.StreamID(), err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("stream %d: the echo differs from what was sent", s.StreamID())
	}
	return s.Close()
}

func push(sess *yamux.Session) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	data := randomBytes(*size)
	say("sha256 %s", sum(data))
	if err := writeChunks(s, data); err != nil {
		return err
	}
	return s.Close()
}

func sink(sess *yamux.Session) error {
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, s, make([]byte, chunkSize))
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if n != int64(*size) {
		return fmt.Errorf("received %d bytes, want %d", n, *size)
	}
	if got != *wantSHA {
		return fmt.Errorf("received bytes have sha256 %s, want %s", got, *wantSHA)
	}
	if _, err := s.Write([]byte(got)); err != nil {
		return err
	}
	return s.Close()
}

func halfCloseReply(sess *yamux.Session) error {
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	req, err := io.ReadAll(s)
	if err != nil {
		return fmt.Errorf("reading the request to EOF: %w", err)
	}
	if _, err := fmt.Fprintf(s, "got %d bytes", len(req)); err != nil {
		return fmt.Errorf("writing after the peer's FIN: %w", err)
	}
	return s.Close()
}

func halfCloseRequest(sess *yamux.Session) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	if err := writeChunks(s, randomBytes(*size)); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	// The peer answers, ends the stream, then opens a second one. yamux handles frames in
	// order, so once the second stream is here the answer and FIN of the first are too.
	second, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	if err := expectEOF(s, fmt.Sprintf("got %d bytes", *size)); err != nil {
		return err
	}
	if err := expectEOF(second, ""); err != nil {
		return err
	}
	return second.Close()
}

func resetByNode(sess *yamux.Session) error {
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	if err := expectString(s, "hello"); err != nil {
		return err
	}
	readErr := make(chan error, 1)
	go func() {
		n, err := s.Read(make([]byte, 1))
		if err == nil {
			err = fmt.Errorf("read %d bytes, the peer sent none", n)
		}
		readErr <- err
	}()
	// 1 MiB into a 256 KiB window the peer does not give back: blocks until the RST.
	n, werr := s.Write(make([]byte, 1<<20))
	rerr := <-readErr
	if werr != yamux.ErrConnectionReset {
		return fmt.Errorf("Write returned (%d, %v), want ErrConnectionReset", n, werr)
	}
	if rerr != yamux.ErrConnectionReset {
		return fmt.Errorf("Read returned %v, want ErrConnectionReset", rerr)
	}
	say("write %d %v", n, werr)
	return nil
}

func resetByGo(sess *yamux.Session) error {
	if _, err := waitStdin("accept"); err != nil {
		return err
	}
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	if _, err := io.Copy(s, s); err != nil {
		return err
	}
	return s.Close()
}

func ping(sess *yamux.Session) error {
	for i := 0; i < 3; i++ {
		rtt, err := sess.Ping()
		if err != nil {
			return fmt.Errorf("ping %d: %w", i, err)
		}
		say("rtt %s", rtt)
	}
	return nil
}

func idle(sess *yamux.Session) error {
	<-sess.CloseChan()
	return nil
}

func goAwayRecv(sess *yamux.Session) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		return err
	}
	// The peer sends GoAway before this text, and yamux handles frames in order.
	if err := expectString(s, "goaway sent"); err != nil {
		return err
	}
	if _, err := sess.OpenStream(); err != yamux.ErrRemoteGoAway {
		return fmt.Errorf("OpenStream after the peer's GoAway returned %v, want ErrRemoteGoAway", err)
	}
	if _, err := s.Write([]byte("still works")); err != nil {
		return fmt.Errorf("writing on the open stream after GoAway: %w", err)
	}
	return s.Close()
}

func goAwaySend(sess *yamux.Session) error {
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	if err := expectString(s, "hello"); err != nil {
		return err
	}
	if err := sess.GoAway(); err != nil {
		return err
	}
	if _, err := s.Write([]byte("goaway sent")); err != nil {
		return err
	}
	if err := expectEOF(s, "still works"); err != nil {
		return err
	}
	return s.Close()
}

func brokerDial(sess *yamux.Session) error {
	arg, err := waitStdin("dial")
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(arg, 10, 32)
	if err != nil {
		return err
	}
	c, err := newMuxBroker(sess).Dial(uint32(id))
	if err != nil {
		return fmt.Errorf("Dial(%d): %w", id, err)
	}
	if _, err := c.Write([]byte("hello from go")); err != nil {
		return err
	}
	if err := expectEOF(c, "hello from node"); err != nil {
		return err
	}
	return c.Close()
}

func brokerAccept(sess *yamux.Session) error {
	b := newMuxBroker(sess)
	go b.Run()
	id := b.NextId()
	say("id %d", id)
	c, err := b.Accept(id)
	if err != nil {
		return fmt.Errorf("Accept(%d): %w", id, err)
	}
	if err := expectEOF(c, "hello from node"); err != nil {
		return err
	}
	if _, err := c.Write([]byte("hello from go")); err != nil {
		return err
	}
	return c.Close()
}

func flow(sess *yamux.Session) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	data := randomBytes(*size)
	say("sha256 %s", sum(data))
	// The peer reads nothing yet: Write must stop at the window and time out.
	s.SetWriteDeadline(time.Now().Add(*stall))
	n, err := s.Write(data)
	if err == nil {
		return fmt.Errorf("all %d bytes were written within %s although the peer read nothing", n, *stall)
	}
	if err != yamux.ErrTimeout {
		return fmt.Errorf("Write returned (%d, %v), want ErrTimeout", n, err)
	}
	say("blocked %d", n)
	s.SetWriteDeadline(time.Time{})
	if err := writeChunks(s, data[n:]); err != nil {
		return err
	}
	return s.Close()
}

// One 1 MiB random block, written over and over: the throughput scenarios measure the
// transport, not the random number generator.
func benchBlock() []byte { return randomBytes(1 << 20) }

func writeRepeated(w io.Writer, block []byte, total int) error {
	for sent := 0; sent < total; {
		off := sent % len(block)
		n := minInt(minInt(chunkSize, len(block)-off), total-sent)
		if _, err := w.Write(block[off : off+n]); err != nil {
			return fmt.Errorf("write after %d bytes: %w", sent, err)
		}
		sent += n
	}
	return nil
}

func countToEOF(r io.Reader) (int64, error) {
	buf := make([]byte, chunkSize)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func benchSend(sess *yamux.Session) error {
	block := benchBlock()
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	if err := writeRepeated(s, block, *size); err != nil {
		return err
	}
	return s.Close()
}

func benchRecv(sess *yamux.Session) error {
	s, err := sess.AcceptStream()
	if err != nil {
		return err
	}
	n, err := countToEOF(s)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s, "%d", n); err != nil {
		return err
	}
	return s.Close()
}

func rawSink() error {
	conn, err := net.Dial("unix", *sockPath)
	if err != nil {
		return err
	}
	defer conn.Close()
	n, err := countToEOF(conn)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(conn, "%d", n)
	return err
}

func rawSource() error {
	conn, err := net.Dial("unix", *sockPath)
	if err != nil {
		return err
	}
	defer conn.Close()
	return writeRepeated(conn, benchBlock(), *size)
}

// benchLocal measures Go to Go, one direction, -size bytes: first one yamux stream, then
// the raw socket, both over a unix socket in a temporary directory.
func benchLocal() error {
	dir, err := os.MkdirTemp("", "yamuxpeer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		return err
	}
	defer ln.Close()
	block := benchBlock()

	for _, mode := range []string{"yamux", "raw"} {
		dialed, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			return err
		}
		accepted, err := ln.Accept()
		if err != nil {
			return err
		}
		var elapsed time.Duration
		if mode == "raw" {
			elapsed, err = benchRaw(dialed, accepted, block)
		} else {
			elapsed, err = benchYamux(dialed, accepted, block)
		}
		dialed.Close()
		accepted.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		say("%s %d %d", mode, *size, elapsed.Nanoseconds())
	}
	return nil
}

// benchRaw and benchYamux time -size bytes from the writer's first write to the moment
// the reader (another goroutine) has read them all and seen EOF.
func benchRaw(w, r net.Conn, block []byte) (time.Duration, error) {
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		err := writeRepeated(w, block, *size)
		if err == nil {
			err = w.(*net.UnixConn).CloseWrite()
		}
		done <- err
	}()
	n, err := countToEOF(r)
	elapsed := time.Since(start)
	if err == nil && n != int64(*size) {
		err = fmt.Errorf("read %d bytes, want %d", n, *size)
	}
	if werr := <-done; err == nil {
		err = werr
	}
	return elapsed, err
}

func benchYamux(clientConn, serverConn net.Conn, block []byte) (time.Duration, error) {
	conf := yamux.DefaultConfig()
	conf.LogOutput = nil
	conf.Logger = log.New(os.Stderr, "yamuxpeer: ", log.Lmicroseconds)
	client, err := yamux.Client(clientConn, conf)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	server, err := yamux.Server(serverConn, conf)
	if err != nil {
		return 0, err
	}
	defer server.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		s, err := client.OpenStream()
		if err == nil {
			err = writeRepeated(s, block, *size)
		}
		if err == nil {
			err = s.Close()
		}
		done <- err
	}()
	s, err := server.AcceptStream()
	if err != nil {
		return 0, err
	}
	n, err := countToEOF(s)
	elapsed := time.Since(start)
	if err == nil && n != int64(*size) {
		err = fmt.Errorf("read %d bytes, want %d", n, *size)
	}
	if werr := <-done; err == nil {
		err = werr
	}
	return elapsed, err
}

// ---- go-plugin's MuxBroker ----------------------------------------------------------

// muxBroker behaves as MuxBroker in go-plugin 1.0.1 (mux_broker.go), rule for rule, so
// that the Node broker is tested against the real handshake rather than our reading of
// it:
//   - Dial opens a stream, writes the id as a little-endian uint32, reads a uint32 ack
//     and fails unless it equals the id.
//   - Run accepts every stream of the session, reads its little-endian id, and parks the
//     stream under that id (a second stream for an id already parked is left
//     unanswered); a parked stream nobody accepts within 5 s is closed.
//   - Accept(id) waits up to 5 s for a stream with that id, then writes the id back
//     (little-endian) as the ack.
//   - NextId counts up from 1.
type muxBroker struct {
	sess    *yamux.Session
	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]*brokerPending
}

type brokerPending struct {
	ch     chan net.Conn // holds at most one dialled stream
	doneCh chan struct{} // closed when Accept took the stream
}

const brokerTimeout = 5 * time.Second

func newMuxBroker(sess *yamux.Session) *muxBroker {
	return &muxBroker{sess: sess, pending: make(map[uint32]*brokerPending)}
}

func (m *muxBroker) NextId() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	return m.nextID
}

func (m *muxBroker) get(id uint32) *brokerPending {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[id]
	if !ok {
		p = &brokerPending{ch: make(chan net.Conn, 1), doneCh: make(chan struct{})}
		m.pending[id] = p
	}
	return p
}

func (m *muxBroker) Dial(id uint32) (net.Conn, error) {
	s, err := m.sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if err := binary.Write(s, binary.LittleEndian, id); err != nil {
		s.Close()
		return nil, err
	}
	var ack uint32
	if err := binary.Read(s, binary.LittleEndian, &ack); err != nil {
		s.Close()
		return nil, err
	}
	if ack != id {
		s.Close()
		return nil, fmt.Errorf("bad ack: %d (expected %d)", ack, id)
	}
	return s, nil
}

func (m *muxBroker) Accept(id uint32) (net.Conn, error) {
	p := m.get(id)
	var c net.Conn
	select {
	case c = <-p.ch:
		close(p.doneCh)
	case <-time.After(brokerTimeout):
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
		return nil, errors.New("timeout waiting for accept")
	}
	if err := binary.Write(c, binary.LittleEndian, id); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (m *muxBroker) Run() {
	for {
		s, err := m.sess.AcceptStream()
		if err != nil {
			return
		}
		var id uint32
		if err := binary.Read(s, binary.LittleEndian, &id); err != nil {
			s.Close()
			continue
		}
		p := m.get(id)
		select {
		case p.ch <- s:
		default:
		}
		go m.expire(id, p)
	}
}

func (m *muxBroker) expire(id uint32, p *brokerPending) {
	timedOut := false
	select {
	case <-p.doneCh:
	case <-time.After(brokerTimeout):
		timedOut = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, id)
	if timedOut {
		select {
		case c := <-p.ch:
			c.Close()
		default:
		}
	}
}
