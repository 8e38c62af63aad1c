package plugwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// cancelMethod is the cancellation notification (protocol.md §8, §13.7).
const cancelMethod = "$/cancelRequest"

// errMethodNotFound is what a handler returns for a method it does not serve.
var errMethodNotFound = errors.New("method not found")

// A handler serves one request: it returns the result (a Go value, encoded by the peer)
// or an error. ctx is cancelled by $/cancelRequest or the end of the connection.
type handlerFunc func(ctx context.Context, method string, params []byte) (any, error)

// A notifier receives notifications in order, on the read loop: blocking it stops reading
// the stream, which is how an object stream's receiver holds its sender back.
type notifierFunc func(method string, params []byte)

// DefaultMaxConcurrent is how many requests a peer serves at once; more wait (unread) until
// one finishes, which holds the sender back through the stream's window.
const DefaultMaxConcurrent = 1024

type peerOptions struct {
	codec         Codec
	maxSize       int
	maxConcurrent int
	name          string
	log           hclog.Logger
	handler       handlerFunc
	notifier      notifierFunc
}

// peer is a symmetric JSON-RPC 2.0 peer over one stream (protocol.md §8): both ends call
// and serve; requests are served concurrently, writes are whole frames under one lock.
type peer struct {
	rw   io.ReadWriteCloser
	o    peerOptions
	wmu  sync.Mutex
	mu   sync.Mutex
	last int64
	// pending outgoing calls by id; incoming requests by their id's key.
	pending  map[int64]chan reply
	incoming map[string]*incomingCall
	sem      chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	closeErr error
	once     sync.Once
}

type reply struct {
	result []byte
	err    error
}

type incomingCall struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool
}

func newPeer(rw io.ReadWriteCloser, o peerOptions) *peer {
	if o.maxSize <= 0 {
		o.maxSize = DefaultMaxMessageSize
	}
	if o.maxConcurrent <= 0 {
		o.maxConcurrent = DefaultMaxConcurrent
	}
	if o.log == nil {
		o.log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{
		rw:       rw,
		o:        o,
		pending:  map[int64]chan reply{},
		incoming: map[string]*incomingCall{},
		sem:      make(chan struct{}, o.maxConcurrent),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go p.readLoop()
	return p
}

// Done is closed when the peer has closed.
func (p *peer) Done() <-chan struct{} { return p.done }

func (p *peer) close(err error) {
	p.once.Do(func() {
		p.mu.Lock()
		p.closeErr = err
		pending := p.pending
		p.pending = map[int64]chan reply{}
		p.mu.Unlock()
		closed := ErrClosed
		if err != nil {
			closed = newError(ErrCodeClosed, "the connection is closed", err)
		}
		for _, ch := range pending {
			ch <- reply{err: closed}
		}
		p.cancel()
		_ = p.rw.Close()
		close(p.done)
	})
}

func (p *peer) closedError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closeErr != nil {
		return newError(ErrCodeClosed, "the connection is closed", p.closeErr)
	}
	return ErrClosed
}

// write sends one message as one frame.
func (p *peer) write(msg []byte) error {
	if len(msg) > p.o.maxSize {
		return &errFrameTooLarge{size: len(msg), limit: p.o.maxSize}
	}
	b := frame(msg)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	select {
	case <-p.done:
		return p.closedError()
	default:
	}
	if _, err := p.rw.Write(b); err != nil {
		go p.close(err)
		return newError(ErrCodeClosed, "cannot write", err)
	}
	return nil
}

func (p *peer) enc(v any) []byte {
	b, err := p.o.codec.Encode(v)
	if err != nil {
		panic(err) // only for values of this file: strings and numbers
	}
	return b
}

func (p *peer) fields(kv ...any) []byte {
	fs := make([]field, 0, len(kv)/2+1)
	fs = append(fs, field{"jsonrpc", p.enc("2.0")})
	for i := 0; i < len(kv); i += 2 {
		raw, ok := kv[i+1].([]byte)
		if !ok {
			raw = p.enc(kv[i+1])
		}
		fs = append(fs, field{kv[i].(string), raw})
	}
	return p.o.codec.message(fs)
}

// call sends a request with already encoded params (an array) and waits for its answer.
// When ctx ends first, the remote is told with $/cancelRequest and the call returns a
// cancellation error (PLUGWIRE_CANCELLED, wrapping ctx.Err()).
func (p *peer) call(ctx context.Context, method string, params []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, newError(ErrCodeCancelled, fmt.Sprintf("call %q cancelled", method), err)
	}
	ch := make(chan reply, 1)
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return nil, p.closedError()
	default:
	}
	if p.last >= math.MaxInt32 {
		p.last = 0
	}
	p.last++
	id := p.last
	p.pending[id] = ch
	p.mu.Unlock()
	forget := func() {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
	}
	if err := p.write(p.fields("id", id, "method", method, "params", params)); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		forget()
		_ = p.notify(cancelMethod, map[string]any{"id": id})
		return nil, newError(ErrCodeCancelled, fmt.Sprintf("call %q cancelled", method), ctx.Err())
	}
}

// notify sends a notification; params is a value or already encoded bytes.
func (p *peer) notify(method string, params any) error {
	return p.write(p.fields("method", method, "params", params))
}

func (p *peer) readLoop() {
	for {
		msg, err := readFrame(p.rw, p.o.maxSize)
		if err != nil {
			var tooLarge *errFrameTooLarge
			if errors.As(err, &tooLarge) {
				// Refused from the header: say why, then close this stream (§8).
				p.o.log.Debug("message too large", "peer", p.o.name, "size", tooLarge.size)
				_ = p.write(p.fields("id", nil, "error", map[string]any{
					"code": CodeTooLarge, "message": tooLarge.Error(),
					"data": map[string]any{"size": tooLarge.size, "limit": tooLarge.limit},
				}))
				p.close(tooLarge)
				return
			}
			if err == io.EOF {
				p.close(nil)
			} else {
				p.close(err)
			}
			return
		}
		p.receive(msg)
	}
}

func (p *peer) receive(msg []byte) {
	c := p.o.codec
	items, isBatch, err := c.parseBatch(msg)
	if isBatch {
		if err != nil {
			p.sendError(nil, CodeParseError, "Parse error", nil)
			return
		}
		if len(items) == 0 {
			p.sendError(nil, CodeInvalidRequest, "Invalid Request", nil)
			return
		}
		p.receiveBatch(items)
		return
	}
	m, err := c.parseMessage(msg)
	if err != nil {
		p.sendError(nil, CodeParseError, "Parse error", nil)
		return
	}
	if out, _ := p.dispatch(m, nil); out != nil {
		_ = p.write(out)
	}
}

// A batch is answered with one array once every request of it has answered.
func (p *peer) receiveBatch(items [][]byte) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var out [][]byte
	collect := func(b []byte) {
		mu.Lock()
		out = append(out, b)
		mu.Unlock()
		wg.Done()
	}
	for _, it := range items {
		m, err := p.o.codec.parseMessage(it)
		if err != nil {
			wg.Add(1)
			collect(p.errorMessage(nil, CodeInvalidRequest, "Invalid Request", nil))
			continue
		}
		wg.Add(1)
		if b, async := p.dispatch(m, collect); b != nil {
			collect(b)
		} else if !async {
			wg.Done() // a notification or a response: nothing to answer
		}
	}
	go func() {
		wg.Wait()
		if len(out) > 0 {
			_ = p.write(arrayOf(p.o.codec, out))
		}
	}()
}

func (p *peer) str(raw []byte) (string, bool) {
	var s string
	if raw == nil || p.o.codec.Decode(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// idKey is a request id as a map key: numbers by value (json 5 and msgpack 5 alike).
func (p *peer) idKey(raw []byte) (string, bool) {
	var v any
	if p.o.codec.Decode(raw, &v) != nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return "s:" + x, true
	case nil:
		return "", false
	}
	if f, ok := toFloat(v); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return fmt.Sprintf("n:%v", f), true
	}
	return "", false
}

// dispatch handles one message. It returns the answer to send now, or nil and whether a
// request is being served in the background, to be answered through `answer` (nil: written
// on the stream).
func (p *peer) dispatch(m map[string][]byte, answer func([]byte)) ([]byte, bool) {
	c := p.o.codec
	idRaw, hasID := m["id"]
	if methodRaw, ok := m["method"]; ok {
		method, okMethod := p.str(methodRaw)
		v, okVersion := p.str(m["jsonrpc"])
		params := m["params"]
		_, hasResult := m["result"]
		_, hasError := m["error"]
		if c.isNull(params) {
			params = nil
		}
		validParams := params == nil || p.isContainer(params)
		validID := !hasID || c.isNull(idRaw)
		if hasID && !validID {
			_, validID = p.idKey(idRaw)
		}
		if !okMethod || !okVersion || v != "2.0" || !validParams || hasResult || hasError || !validID {
			if !hasID || !validID {
				idRaw = c.null()
			}
			return p.errorMessage(idRaw, CodeInvalidRequest, "Invalid Request", nil), false
		}
		if method == cancelMethod {
			p.receiveCancel(params)
			if hasID {
				return p.fields("id", idRaw, "result", c.null()), false
			}
			return nil, false
		}
		if !hasID {
			if p.o.notifier != nil {
				p.o.notifier(method, params)
			}
			return nil, false
		}
		return nil, p.serve(idRaw, method, params, answer)
	}
	resRaw, hasResult := m["result"]
	errRaw, hasError := m["error"]
	if !hasResult && !hasError {
		id := c.null()
		if hasID {
			if _, ok := p.idKey(idRaw); ok {
				id = idRaw
			}
		}
		return p.errorMessage(id, CodeInvalidRequest, "Invalid Request", nil), false
	}
	p.receiveResponse(idRaw, resRaw, hasResult, errRaw, hasError)
	return nil, false
}

func (p *peer) isContainer(raw []byte) bool {
	var v any
	if p.o.codec.Decode(raw, &v) != nil {
		return false
	}
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

type wireError struct {
	Code    int
	Message string
	Data    []byte
}

func (p *peer) receiveResponse(idRaw, resRaw []byte, hasResult bool, errRaw []byte, hasError bool) {
	c := p.o.codec
	var idv any
	if idRaw != nil {
		_ = c.Decode(idRaw, &idv)
	}
	f, isNum := toFloat(idv)
	if hasError && !c.isNull(errRaw) {
		fields, err := c.parseMessage(errRaw)
		var we wireError
		ok := err == nil
		if ok {
			var code float64
			ok = c.Decode(fields["code"], &code) == nil && code == math.Trunc(code)
			we.Code = int(code)
			if ok {
				we.Message, ok = p.str(fields["message"])
			}
			we.Data = fields["data"]
		}
		if !isNum {
			if ok && idv == nil {
				p.o.log.Debug("the remote reported an error", "peer", p.o.name, "code", we.Code, "message", we.Message)
			}
			return
		}
		if !ok {
			p.deliver(int64(f), reply{err: newError(ErrCodeProtocol, "an invalid error answer", nil)})
			return
		}
		p.deliver(int64(f), reply{err: remoteError(c, we)})
		return
	}
	if !isNum || !hasResult {
		return
	}
	if resRaw == nil {
		resRaw = c.null()
	}
	p.deliver(int64(f), reply{result: resRaw})
}

func (p *peer) deliver(id int64, r reply) {
	p.mu.Lock()
	ch, ok := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if ok {
		ch <- r
	}
}

// remoteError rebuilds an error answer (protocol.md §13.5).
func remoteError(c Codec, we wireError) *RemoteError {
	e := &RemoteError{RPCCode: we.Code, Code: we.Code, Message: we.Message}
	if c.isNull(we.Data) {
		return e
	}
	if we.Code == CodeApplication {
		var d struct{ Name, Stack string }
		if fields, err := c.parseMessage(we.Data); err == nil {
			_ = c.Decode(fields["name"], &d.Name)
			_ = c.Decode(fields["stack"], &d.Stack)
			var code any
			if c.Decode(fields["code"], &code) == nil {
				switch x := code.(type) {
				case string:
					e.Code = x
				default:
					if f, ok := toFloat(x); ok {
						e.Code = int(f)
					}
				}
			}
			if raw, ok := fields["data"]; ok {
				var data any
				_ = c.Decode(raw, &data)
				e.Data = data
			}
			e.Name, e.Stack = d.Name, d.Stack
			return e
		}
	}
	var data any
	_ = c.Decode(we.Data, &data)
	e.Data = data
	return e
}

func (p *peer) receiveCancel(params []byte) {
	c := p.o.codec
	fields, err := c.parseMessage(params)
	if err != nil {
		return
	}
	key, ok := p.idKey(fields["id"])
	if !ok {
		return
	}
	p.mu.Lock()
	ic := p.incoming[key]
	delete(p.incoming, key)
	p.mu.Unlock()
	if ic != nil {
		ic.cancelled.Store(true)
		ic.cancel()
	}
}

// serve runs one request's handler in its own goroutine, at most maxConcurrent at once.
func (p *peer) serve(idRaw []byte, method string, params []byte, answer func([]byte)) bool {
	select {
	case p.sem <- struct{}{}:
	case <-p.done:
		return false
	}
	ctx, cancel := context.WithCancel(p.ctx)
	ic := &incomingCall{cancel: cancel}
	key, tracked := p.idKey(idRaw)
	p.mu.Lock()
	if _, dup := p.incoming[key]; tracked && !dup {
		p.incoming[key] = ic
	} else {
		tracked = false
	}
	p.mu.Unlock()
	go func() {
		defer func() { <-p.sem }()
		result, err := p.runHandler(ctx, method, params)
		var then func()
		if a, ok := result.(*afterAnswer); ok {
			result, then = a.result, a.then
		}
		if tracked {
			p.mu.Lock()
			if p.incoming[key] == ic {
				delete(p.incoming, key)
			}
			p.mu.Unlock()
		}
		cancel()
		var out []byte
		switch {
		case ic.cancelled.Load():
			// The caller stopped waiting; it ignores this answer (protocol.md §13.7).
			out = p.errorMessage(idRaw, CodeCancelled, "Request cancelled", nil)
		case err != nil:
			out = p.errorAnswer(idRaw, method, err)
		default:
			out = p.resultAnswer(idRaw, result)
		}
		if answer != nil {
			answer(out)
		} else {
			_ = p.write(out)
		}
		if then != nil {
			then()
		}
	}()
	return true
}

func (p *peer) runHandler(ctx context.Context, method string, params []byte) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.o.log.Error("a method panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &RPCError{Code: CodeInternalError, Message: fmt.Sprintf("the method %q panicked: %v", method, r)}
		}
	}()
	if p.o.handler == nil {
		return nil, errMethodNotFound
	}
	return p.o.handler(ctx, method, params)
}

func (p *peer) resultAnswer(idRaw []byte, result any) []byte {
	raw, err := p.o.codec.Encode(result)
	if err != nil {
		return p.errorMessage(idRaw, CodeInternalError, "the response could not be encoded: "+err.Error(), nil)
	}
	out := p.fields("id", idRaw, "result", raw)
	if len(out) > p.o.maxSize {
		return p.errorMessage(idRaw, CodeTooLarge,
			fmt.Sprintf("the response of %d bytes is larger than the limit of %d bytes", len(out), p.o.maxSize),
			map[string]any{"size": len(out), "limit": p.o.maxSize})
	}
	return out
}

// errorAnswer turns what a handler returned into the wire error (protocol.md §13.5).
func (p *peer) errorAnswer(idRaw []byte, method string, err error) []byte {
	var rpcErr *RPCError
	var appErr *Error
	var remote *RemoteError
	switch {
	case errors.Is(err, errMethodNotFound):
		return p.errorMessage(idRaw, CodeMethodNotFound, "Method not found", map[string]any{"method": method})
	case errors.As(err, &rpcErr):
		return p.errorMessage(idRaw, rpcErr.Code, rpcErr.Message, rpcErr.Data)
	case errors.As(err, &appErr):
		name := appErr.Name
		if name == "" {
			name = "Error"
		}
		data := map[string]any{"name": name}
		if appErr.Code != nil {
			data["code"] = appErr.Code
		}
		if appErr.Data != nil {
			data["data"] = appErr.Data
		}
		return p.errorMessage(idRaw, CodeApplication, appErr.Message, data)
	case errors.As(err, &remote) && remote.RPCCode == CodeApplication:
		// A nested call's error passes on with its name, code and data (and what the
		// method wrapped around it, in the message).
		message := remote.Message
		if err != error(remote) {
			message = err.Error()
		}
		data := map[string]any{"name": remote.Name}
		if remote.Code != nil {
			data["code"] = remote.Code
		}
		if remote.Data != nil {
			data["data"] = remote.Data
		}
		return p.errorMessage(idRaw, CodeApplication, message, data)
	}
	data := map[string]any{"name": "Error"}
	if code := Code(err); code != "" {
		data["code"] = code
	}
	return p.errorMessage(idRaw, CodeApplication, err.Error(), data)
}

func (p *peer) errorMessage(idRaw []byte, code int, message string, data any) []byte {
	if idRaw == nil {
		idRaw = p.o.codec.null()
	}
	e := map[string]any{"code": code, "message": message}
	if data != nil {
		e["data"] = data
	}
	raw, err := p.o.codec.Encode(e)
	if err != nil {
		raw = p.enc(map[string]any{"code": CodeInternalError, "message": "the error data could not be encoded: " + err.Error()})
	}
	return p.fields("id", idRaw, "error", raw)
}

func (p *peer) sendError(idRaw []byte, code int, message string, data any) {
	_ = p.write(p.errorMessage(idRaw, code, message, data))
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func arrayOf(c Codec, items [][]byte) []byte {
	if c.Name() == "json" {
		out := []byte{'['}
		for i, it := range items {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, it...)
		}
		return append(out, ']')
	}
	n := len(items)
	var out []byte
	switch {
	case n < 16:
		out = []byte{0x90 | byte(n)}
	case n < 1<<16:
		out = []byte{0xdc, byte(n >> 8), byte(n)}
	default:
		out = []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}
