// Command plugin is a plugwire plugin written in Go, from docs/protocol.md
// alone, with nothing but the standard library and github.com/hashicorp/yamux.
//
// It serves one plugin, "calc", with the methods add, echo, upper, fail and
// hang (a call that never answers unless cancelled), over JSON-RPC 2.0 with
// the json codec.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

// §2: the default plugwire cookie.
const (
	cookieKey   = "PLUGWIRE_MAGIC_COOKIE"
	cookieValue = "b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41"
)

const (
	coreVersion    = 1               // §3: CORE field
	maxFrame       = 64 << 20        // §8: default maximum message size
	brokerTimeout  = 5 * time.Second // §7: default broker timeout
	maxUnixPathLen = 103             // §3: sockaddr_un limit (macOS/BSD)
)

// servedVersions are the application protocol versions this plugin serves.
var servedVersions = []int{1}

// JSON-RPC error codes (§8).
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
	codeApplication    = -32000
	codeCancelled      = -32001
	codeUnknownPlugin  = -32010
)

func main() {
	// §9: SIGINT is ignored (a terminal's Ctrl-C is the host's business).
	signal.Ignore(syscall.SIGINT)
	os.Exit(run())
}

// ---------------------------------------------------------------------------
// Logging (§10): hclog JSON lines on stderr.

var logMu sync.Mutex

func logf(level, msg string, fields map[string]interface{}) {
	rec := map[string]interface{}{}
	for k, v := range fields {
		rec[k] = v
	}
	rec["@level"] = level
	rec["@message"] = msg
	rec["@timestamp"] = time.Now().Format("2006-01-02T15:04:05.000000Z07:00")
	rec["@module"] = "go-plugin"
	b, err := json.Marshal(rec)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"@level":"error","@message":%q}`, "log: "+err.Error()))
	}
	logMu.Lock()
	defer logMu.Unlock()
	os.Stderr.Write(append(b, '\n'))
}

// lineLogger turns yamux's log lines into debug records.
type lineLogger struct {
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
		if line != "" {
			logf("debug", line, map[string]interface{}{"source": "yamux"})
		}
	}
}

// ---------------------------------------------------------------------------
// Negotiation (§2).

func pickVersion() (int, error) {
	offered, ok := os.LookupEnv("PLUGIN_PROTOCOL_VERSIONS")
	if !ok || strings.TrimSpace(offered) == "" {
		// Not covered by the protocol: fall back to our highest version.
		return servedVersions[len(servedVersions)-1], nil
	}
	best := -1
	for _, s := range strings.Split(offered, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		for _, served := range servedVersions {
			if v == served && v > best {
				best = v
			}
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("no protocol version in common: host offers %q, plugin serves %v", offered, servedVersions)
	}
	return best, nil
}

func pickCodec() (string, error) {
	offered, ok := os.LookupEnv("PLUGWIRE_CODECS")
	if !ok || strings.TrimSpace(offered) == "" {
		// The default is msgpack, which this plugin does not speak; every
		// host speaks json.
		return "json", nil
	}
	for _, c := range strings.Split(offered, ",") {
		if strings.TrimSpace(c) == "json" {
			return "json", nil
		}
	}
	return "", fmt.Errorf("no codec in common: host offers %q, plugin speaks [json]", offered)
}

// ---------------------------------------------------------------------------
// Listening (§3).

type listener struct {
	ln      net.Listener
	network string
	address string
	dir     string // socket directory to remove on exit ("" for tcp)
}

func listen() (*listener, error) {
	network := os.Getenv("PLUGWIRE_NETWORK")
	if network == "" {
		network = "unix"
	}
	switch network {
	case "unix":
		return listenUnix()
	case "tcp":
		return listenTCP()
	default:
		return nil, fmt.Errorf("unknown PLUGWIRE_NETWORK %q", network)
	}
}

func listenUnix() (*listener, error) {
	base := os.Getenv("PLUGIN_UNIX_SOCKET_DIR")
	if base == "" {
		base = os.TempDir()
	}
	// plugwire-XXXXXX (16 chars) + "/plugin.sock" (12 chars).
	if len(filepath.Join(base, "plugwire-XXXXXXXXXX", "plugin.sock")) > maxUnixPathLen {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "plugwire-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*listener, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	dirMode, sockMode := os.FileMode(0o700), os.FileMode(0o600)
	gid := -1
	if group := os.Getenv("PLUGIN_UNIX_SOCKET_GROUP"); group != "" {
		if gid, err = lookupGroup(group); err != nil {
			return fail(err)
		}
		dirMode, sockMode = 0o750, 0o660
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return fail(err)
	}
	path := filepath.Join(dir, "plugin.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(path, sockMode); err != nil {
		ln.Close()
		return fail(err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			ln.Close()
			return fail(err)
		}
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return fail(err)
		}
	}
	return &listener{ln: ln, network: "unix", address: path, dir: dir}, nil
}

func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

func listenTCP() (*listener, error) {
	minPort, _ := strconv.Atoi(os.Getenv("PLUGIN_MIN_PORT"))
	maxPort, _ := strconv.Atoi(os.Getenv("PLUGIN_MAX_PORT"))
	if minPort <= 0 || maxPort <= 0 || maxPort < minPort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &listener{ln: ln, network: "tcp", address: ln.Addr().String()}, nil
	}
	var lastErr error
	for port := minPort; port <= maxPort; port++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return &listener{ln: ln, network: "tcp", address: ln.Addr().String()}, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free port in %d..%d: %v", minPort, maxPort, lastErr)
}

// ---------------------------------------------------------------------------
// The process.

// exit requests a shutdown with the given status; the first request wins.
type exiter struct {
	once   sync.Once
	ch     chan struct{}
	code   int
	reason string
}

func (e *exiter) exit(code int, reason string) {
	e.once.Do(func() {
		e.code, e.reason = code, reason
		close(e.ch)
	})
}

func run() int {
	// §2.1: the cookie.
	if os.Getenv(cookieKey) != cookieValue {
		fmt.Fprintln(os.Stderr, "This program is a plugin. It is not meant to be run directly: "+
			"run the program that uses this plugin, and it will start the plugin itself.")
		return 1
	}
	version, err := pickVersion()
	if err != nil {
		logf("error", err.Error(), nil)
		return 1
	}
	codec, err := pickCodec()
	if err != nil {
		logf("error", err.Error(), nil)
		return 1
	}

	ex := &exiter{ch: make(chan struct{})}

	// §9: SIGTERM means "stop cleanly", as quit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		ex.exit(0, "SIGTERM")
	}()

	// §1, §9: EOF on a stdin that is a pipe (or socket pair) means the host
	// is gone. A terminal or /dev/null says nothing.
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			ex.exit(0, "stdin closed")
		}()
	}

	// §3: listen before printing the handshake.
	l, err := listen()
	if err != nil {
		logf("error", "cannot listen: "+err.Error(), nil)
		return 1
	}
	cleanup := func() {
		l.ln.Close()
		if l.dir != "" {
			os.RemoveAll(l.dir)
		}
	}
	defer cleanup()

	line := fmt.Sprintf("%d|%d|%s|%s|jsonrpc+%s\n", coreVersion, version, l.network, l.address, codec)
	if _, err := os.Stdout.Write([]byte(line)); err != nil {
		logf("error", "cannot write the handshake: "+err.Error(), nil)
		return 1
	}
	logf("info", "go plugin serving", map[string]interface{}{
		"pid":             os.Getpid(),
		"protocolVersion": version,
		"codec":           codec,
		"network":         l.network,
		"address":         l.address,
		"plugins":         pluginNames(),
	})

	p := &plugin{version: version, codec: codec, exit: ex, pending: map[uint32]string{}, nextID: 2}
	go p.serve(l.ln)

	<-ex.ch
	p.close()
	cleanup()
	logf("debug", "go plugin exiting", map[string]interface{}{"reason": ex.reason, "status": ex.code})
	return ex.code
}

// ---------------------------------------------------------------------------
// Connection, yamux, control stream, broker (§4–§7).

type plugin struct {
	version int
	codec   string
	exit    *exiter

	mu      sync.Mutex
	session *yamux.Session
	pending map[uint32]string // broker id → plugin name, awaiting the host's dial
	nextID  uint32
}

func (p *plugin) serve(ln net.Listener) {
	// §4: one connection per plugin process.
	conn, err := ln.Accept()
	if err != nil {
		p.exit.exit(1, "accept: "+err.Error())
		return
	}
	// Refuse further connections, but keep the socket file: it goes with the
	// directory when the plugin exits.
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	ln.Close()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = &lineLogger{}
	session, err := yamux.Server(conn, cfg) // §5: the plugin is the yamux server
	if err != nil {
		conn.Close()
		p.exit.exit(1, "yamux: "+err.Error())
		return
	}
	p.mu.Lock()
	p.session = session
	p.mu.Unlock()
	go func() {
		<-session.CloseChan()
		p.exit.exit(0, "session closed")
	}()

	// §6: the first stream the host opens is the control channel.
	control, err := session.AcceptStream()
	if err != nil {
		p.exit.exit(0, "session closed before the control stream")
		return
	}
	go newRPC(control, p.controlMethods()).serve()

	// §7: every later stream is a broker stream.
	for {
		stream, err := session.AcceptStream()
		if err != nil {
			return
		}
		go p.brokerStream(stream)
	}
}

func (p *plugin) close() {
	p.mu.Lock()
	s := p.session
	p.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

func (p *plugin) brokerStream(stream *yamux.Stream) {
	var idBuf [4]byte
	stream.SetReadDeadline(time.Now().Add(brokerTimeout))
	if _, err := io.ReadFull(stream, idBuf[:]); err != nil {
		stream.Close()
		return
	}
	stream.SetReadDeadline(time.Time{})
	id := binary.LittleEndian.Uint32(idBuf[:])
	p.mu.Lock()
	name, ok := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if !ok {
		logf("warn", "dial for an unknown broker id", map[string]interface{}{"id": id})
		stream.Close()
		return
	}
	if _, err := stream.Write(idBuf[:]); err != nil {
		stream.Close()
		return
	}
	methods := plugins[name]
	newRPC(stream, methods).serve()
}

func pluginNames() []string {
	names := make([]string, 0, len(plugins))
	for n := range plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (p *plugin) controlMethods() map[string]handler {
	return map[string]handler{
		"plugwire/ping": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			return struct{}{}, nil
		},
		"plugwire/info": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			return map[string]interface{}{
				"pid":             os.Getpid(),
				"protocolVersion": p.version,
				"codec":           p.codec,
				"plugins":         pluginNames(),
			}, nil
		},
		"plugwire/dispense": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			var args struct {
				Name *string `json:"name"`
			}
			if err := json.Unmarshal(params, &args); err != nil || args.Name == nil {
				return nil, &rpcError{Code: codeInvalidParams, Message: `plugwire/dispense expects {"name": string}`}
			}
			if _, ok := plugins[*args.Name]; !ok {
				return nil, &rpcError{
					Code:    codeUnknownPlugin,
					Message: fmt.Sprintf("unknown plugin %q", *args.Name),
					Data:    map[string]interface{}{"known": pluginNames()},
				}
			}
			p.mu.Lock()
			id := p.nextID
			p.nextID += 2
			p.pending[id] = *args.Name
			p.mu.Unlock()
			// §7: an accept that sees no dial within the timeout fails.
			time.AfterFunc(brokerTimeout, func() {
				p.mu.Lock()
				delete(p.pending, id)
				p.mu.Unlock()
			})
			return map[string]interface{}{"id": id}, nil
		},
		"plugwire/quit": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			return thenDo{result: struct{}{}, after: func() { p.exit.exit(0, "quit") }}, nil
		},
	}
}

// ---------------------------------------------------------------------------
// The calc plugin.

var plugins = map[string]map[string]handler{
	"calc": {
		"add": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			var args []json.Number
			if err := decodeParams(params, &args); err != nil || len(args) != 2 {
				return nil, &rpcError{Code: codeInvalidParams, Message: "add expects [a, b]: two numbers"}
			}
			return addNumbers(args[0], args[1])
		},
		"echo": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			var args []json.RawMessage
			if err := decodeParams(params, &args); err != nil || len(args) != 1 {
				return nil, &rpcError{Code: codeInvalidParams, Message: "echo expects [value]"}
			}
			return args[0], nil
		},
		"upper": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			var args []string
			if err := decodeParams(params, &args); err != nil || len(args) != 1 {
				return nil, &rpcError{Code: codeInvalidParams, Message: "upper expects [string]"}
			}
			return strings.ToUpper(args[0]), nil
		},
		"fail": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			return nil, &rpcError{Code: codeApplication, Message: "failed on purpose", Data: map[string]interface{}{"name": "Error"}}
		},
		// hang never answers on its own: it ends only when cancelled or when
		// the stream goes away.
		"hang": func(ctx context.Context, params json.RawMessage) (interface{}, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	},
}

func decodeParams(params json.RawMessage, v interface{}) error {
	if len(params) == 0 {
		params = []byte("[]")
	}
	d := json.NewDecoder(bytes.NewReader(params))
	d.UseNumber()
	return d.Decode(v)
}

// addNumbers adds exactly when both are integers that fit, else as float64.
func addNumbers(a, b json.Number) (interface{}, error) {
	ai, aerr := a.Int64()
	bi, berr := b.Int64()
	if aerr == nil && berr == nil {
		sum := ai + bi
		if (sum > ai) == (bi > 0) && math.Abs(float64(sum)) < 1<<53 {
			return sum, nil
		}
	}
	af, aerr := a.Float64()
	bf, berr := b.Float64()
	if aerr != nil || berr != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "add expects [a, b]: two numbers"}
	}
	return af + bf, nil
}

// ---------------------------------------------------------------------------
// JSON-RPC 2.0 over a length-prefixed stream (§8), json codec.

type handler func(ctx context.Context, params json.RawMessage) (interface{}, error)

type rpcError struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Data    interface{} `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return e.Message }

// thenDo is a result with something to do once the response is written.
type thenDo struct {
	result interface{}
	after  func()
}

type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  *string         `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcConn struct {
	stream  io.ReadWriteCloser
	methods map[string]handler
	ctx     context.Context
	stop    context.CancelFunc

	wmu sync.Mutex

	mu       sync.Mutex
	inflight map[string]context.CancelFunc
}

func newRPC(stream io.ReadWriteCloser, methods map[string]handler) *rpcConn {
	ctx, stop := context.WithCancel(context.Background())
	return &rpcConn{stream: stream, methods: methods, ctx: ctx, stop: stop, inflight: map[string]context.CancelFunc{}}
}

func (c *rpcConn) serve() {
	defer c.stream.Close()
	defer c.stop() // ends handlers still running (hang)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c.stream, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			logf("warn", "message too large, closing the stream", map[string]interface{}{"length": n})
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.stream, body); err != nil {
			return
		}
		c.handleFrame(body)
	}
}

func (c *rpcConn) send(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		logf("error", "cannot encode a response: "+err.Error(), nil)
		return
	}
	frame := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	copy(frame[4:], b)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.stream.Write(frame)
}

func (c *rpcConn) handleFrame(body []byte) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			c.send(errorResponse(nil, codeParseError, "parse error: "+err.Error()))
			return
		}
		if len(batch) == 0 {
			c.send(errorResponse(nil, codeInvalidRequest, "invalid request: empty batch"))
			return
		}
		// The batch's responses go back together, in one array.
		go func() {
			var wg sync.WaitGroup
			results := make([]*response, len(batch))
			afters := make([]func(), len(batch))
			for i, raw := range batch {
				wg.Add(1)
				go func(i int, raw json.RawMessage) {
					defer wg.Done()
					results[i], afters[i] = c.handleMessage(raw)
				}(i, raw)
			}
			wg.Wait()
			out := []*response{}
			for _, r := range results {
				if r != nil {
					out = append(out, r)
				}
			}
			if len(out) > 0 {
				c.send(out)
			}
			for _, f := range afters {
				if f != nil {
					f()
				}
			}
		}()
		return
	}
	go func() {
		r, after := c.handleMessage(body)
		if r != nil {
			c.send(r)
		}
		if after != nil {
			after()
		}
	}()
}

// handleMessage runs one request or notification; it returns the response
// to send (nil for notifications and stray responses) and what to do after.
func (c *rpcConn) handleMessage(raw json.RawMessage) (resp *response, after func()) {
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return errorResponse(nil, codeParseError, "parse error: "+err.Error()), nil
		}
		return errorResponse(nil, codeInvalidRequest, "invalid request: "+err.Error()), nil
	}
	if m.Method == nil {
		// A response: this plugin never sends requests, so there is nothing to match.
		if m.Result != nil || m.Error != nil {
			return nil, nil
		}
		return errorResponse(m.ID, codeInvalidRequest, "invalid request: no method"), nil
	}
	if m.JSONRPC != "2.0" {
		return errorResponse(m.ID, codeInvalidRequest, `invalid request: jsonrpc must be "2.0"`), nil
	}
	isRequest := m.ID != nil

	if *m.Method == "$/cancelRequest" {
		var args struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(m.Params, &args) == nil && args.ID != nil {
			c.mu.Lock()
			cancel := c.inflight[idKey(args.ID)]
			c.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
		if isRequest {
			return resultResponse(m.ID, struct{}{}), nil
		}
		return nil, nil
	}

	h := c.methods[*m.Method]
	if h == nil {
		if !isRequest {
			return nil, nil
		}
		return errorResponse(m.ID, codeMethodNotFound, fmt.Sprintf("method not found: %s", *m.Method)), nil
	}

	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	key := ""
	if isRequest {
		key = idKey(m.ID)
		c.mu.Lock()
		c.inflight[key] = cancel
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.inflight, key)
			c.mu.Unlock()
		}()
	}

	result, err := callHandler(ctx, h, m.Params)
	if !isRequest {
		return nil, nil
	}
	if err != nil {
		var re *rpcError
		switch {
		case errors.As(err, &re):
			return &response{JSONRPC: "2.0", ID: m.ID, Error: re}, nil
		case errors.Is(err, context.Canceled):
			return errorResponse(m.ID, codeCancelled, "request cancelled"), nil
		default:
			return &response{JSONRPC: "2.0", ID: m.ID, Error: &rpcError{
				Code: codeApplication, Message: err.Error(), Data: map[string]interface{}{"name": "Error"},
			}}, nil
		}
	}
	if t, ok := result.(thenDo); ok {
		result, after = t.result, t.after
	}
	return resultResponse(m.ID, result), after
}

// callHandler turns a handler panic into an application error.
func callHandler(ctx context.Context, h handler, params json.RawMessage) (result interface{}, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &rpcError{Code: codeApplication, Message: fmt.Sprint(r), Data: map[string]interface{}{"name": "panic"}}
		}
	}()
	return h(ctx, params)
}

func resultResponse(id json.RawMessage, result interface{}) *response {
	b, err := json.Marshal(result)
	if err != nil {
		return errorResponse(id, codeInternalError, "cannot encode the result: "+err.Error())
	}
	return &response{JSONRPC: "2.0", ID: id, Result: b}
}

func errorResponse(id json.RawMessage, code int, msg string) *response {
	if id == nil {
		id = json.RawMessage("null")
	}
	return &response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// idKey normalises a request id (number or string) for the in-flight table.
func idKey(id json.RawMessage) string {
	var v interface{}
	d := json.NewDecoder(bytes.NewReader(id))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return string(id)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
