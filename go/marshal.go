package plugwire

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Values that cannot travel as data travel on broker streams of their own (protocol.md
// §13): the sender mints a broker id, waits for the receiver to dial it, and puts a marker
// in the message where the value was:
//
//	{"$plugwire": "fn",    "id": 3}                     a func: call it with method "call"
//	{"$plugwire": "obj",   "id": 5, "methods": [...]}   an object whose methods can be called
//	{"$plugwire": "bytes", "id": 7}                     a byte stream
//	{"$plugwire": "iter",  "id": 9}                     an object stream
//
// Only top-level arguments and results are looked at, as in the TypeScript sdk.

const markKey = "$plugwire"

type marker struct {
	Kind    string   `json:"$plugwire"`
	ID      uint32   `json:"id"`
	Methods []string `json:"methods,omitempty"`
}

// wire is what marshalling needs from a connection.
type wire struct {
	broker  *broker
	codec   Codec
	log     hclog.Logger
	maxSize int
	name    string
}

func (w *wire) newPeer(c net.Conn, name string, h handlerFunc, n notifierFunc) *peer {
	return newPeer(c, peerOptions{codec: w.codec, maxSize: w.maxSize, name: name, log: w.log, handler: h, notifier: n})
}

// object and retained wrap values for marshal.
type object struct{ v any }
type retained struct{ v any }

// Object marks v to travel as an object whose exported methods the other side can call
// (protocol.md §13.3) rather than as data.
func Object(v any) any { return &object{v} }

// Retain marks a callback argument (a func, or Object(v)) to stay callable after the call
// it was passed to has returned, until the other side releases it or the connection ends.
// Without it, a callback argument works only while its call runs.
func Retain(v any) any { return &retained{v} }

// callScope is the life of one outgoing call: callbacks passed to it end with it.
type callScope struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newScope() *callScope {
	ctx, cancel := context.WithCancel(context.Background())
	return &callScope{ctx: ctx, cancel: cancel}
}

func (s *callScope) end() { s.cancel() }

var readerType = reflect.TypeOf((*io.Reader)(nil)).Elem()

// marshal replaces a special value by its marker and serves it on the broker. scope is nil
// for results, which live on until the other side closes them or the connection ends. A
// value that can travel neither as data nor as a marker is an error.
func (w *wire) marshal(v any, scope *callScope) (any, error) {
	keep := scope == nil
	if r, ok := v.(*retained); ok {
		v, keep = r.v, true
	}
	switch x := v.(type) {
	case nil, []byte, string:
		return v, nil
	case *Remote, *Items:
		return nil, newError(ErrCodeBadArgument, fmt.Sprintf("a %T received from the other side cannot be passed on", v), nil)
	case *object:
		s, err := newService(x.v)
		if err != nil {
			return nil, newError(ErrCodeBadArgument, "cannot pass the object", err)
		}
		id := w.serveService(s, scope, keep)
		return &marker{Kind: "obj", ID: id, Methods: s.names}, nil
	case io.Reader:
		return &marker{Kind: "bytes", ID: w.sendBytes(x, scope, keep)}, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Func:
		if rv.IsNil() {
			return nil, nil
		}
		s, err := funcService(rv)
		if err != nil {
			return nil, newError(ErrCodeBadArgument, "cannot pass the func", err)
		}
		return &marker{Kind: "fn", ID: w.serveService(s, scope, keep)}, nil
	case reflect.Chan:
		if rv.IsNil() || rv.Type().ChanDir()&reflect.RecvDir == 0 {
			return nil, newError(ErrCodeBadArgument, fmt.Sprintf("cannot pass a %s: only a receive channel travels (as an object stream)", rv.Type()), nil)
		}
		return &marker{Kind: "iter", ID: w.sendItems(rv, scope, keep)}, nil
	}
	return v, nil
}

// accepted waits for the receiver's dial of id, for as long as the call runs (or, for
// results, the broker timeout).
func (w *wire) accepted(id uint32, scope *callScope, keep bool) (net.Conn, context.Context, bool) {
	ctx := context.Background()
	if scope != nil {
		ctx = scope.ctx
	}
	c, err := w.broker.accept(ctx, id)
	if err != nil {
		w.log.Debug("nobody took a broker id", "id", id, "error", err)
		return nil, nil, false
	}
	if keep || scope == nil {
		return c, context.Background(), true
	}
	return c, scope.ctx, true
}

func (w *wire) serveService(s *service, scope *callScope, keep bool) uint32 {
	id := w.broker.nextID()
	go func() {
		c, life, ok := w.accepted(id, scope, keep)
		if !ok {
			return
		}
		p := w.newPeer(c, w.name+":callback", s.handler(w), nil)
		select {
		case <-life.Done(): // the call it was passed to has ended
			p.close(nil)
		case <-p.Done(): // released, or the connection ended
		}
	}()
	return id
}

func (w *wire) sendBytes(r io.Reader, scope *callScope, keep bool) uint32 {
	id := w.broker.nextID()
	go func() {
		defer func() {
			if c, ok := r.(io.Closer); ok {
				c.Close()
			}
		}()
		c, _, ok := w.accepted(id, scope, keep)
		if !ok {
			return
		}
		if _, err := io.Copy(c, r); err != nil {
			w.log.Debug("byte stream ended early", "id", id, "error", err)
		}
		c.Close() // FIN: the end of the bytes
	}()
	return id
}

func (w *wire) sendItems(ch reflect.Value, scope *callScope, keep bool) uint32 {
	id := w.broker.nextID()
	go func() {
		c, _, ok := w.accepted(id, scope, keep)
		if !ok {
			return
		}
		p := w.newPeer(c, w.name+":items", nil, nil)
		defer p.close(nil)
		for {
			v, ok := ch.Recv()
			if !ok {
				break
			}
			raw, err := w.codec.Encode([]any{v.Interface()})
			if err == nil {
				err = p.notify("item", raw)
			}
			if err != nil {
				if Code(err) != ErrCodeClosed {
					_ = p.notify("error", []any{map[string]any{"message": err.Error(), "name": "Error", "code": Code(err)}})
				}
				return
			}
		}
		_ = p.notify("end", []any{})
	}()
	return id
}

// ---- receiving ---------------------------------------------------------------------------

var (
	remoteType     = reflect.TypeOf((*Remote)(nil))
	itemsType      = reflect.TypeOf((*Items)(nil))
	readCloserType = reflect.TypeOf((*io.ReadCloser)(nil)).Elem()
	anyType        = reflect.TypeOf((*any)(nil)).Elem()
)

// asMarker reports whether raw is a marker (a map with a string "$plugwire" and an id).
func (w *wire) asMarker(raw []byte) (*marker, bool) {
	if !bytes.Contains(raw, []byte(markKey)) {
		return nil, false
	}
	var m map[string]any
	if w.codec.Decode(raw, &m) != nil {
		return nil, false
	}
	kind, ok := m[markKey].(string)
	id, okID := toFloat(m["id"])
	if !ok || !okID || id < 0 || id > 0xffffffff || id != float64(uint32(id)) {
		return nil, false
	}
	mk := &marker{Kind: kind, ID: uint32(id)}
	if list, ok := m["methods"].([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				mk.Methods = append(mk.Methods, s)
			}
		}
	}
	return mk, true
}

// decodeArg decodes one value into a new value of type t: a marker becomes a func, a
// *Remote, an io.ReadCloser or an *Items (dialling its stream), anything else is data.
func (w *wire) decodeArg(ctx context.Context, raw []byte, t reflect.Type) (reflect.Value, error) {
	if m, ok := w.asMarker(raw); ok {
		v, err := w.unmarshal(ctx, m, t)
		if err != nil {
			return reflect.Value{}, err
		}
		return v, nil
	}
	p := reflect.New(t)
	if err := w.codec.Decode(raw, p.Interface()); err != nil {
		return reflect.Value{}, err
	}
	return p.Elem(), nil
}

func (w *wire) unmarshal(ctx context.Context, m *marker, t reflect.Type) (reflect.Value, error) {
	var want string
	switch {
	case t.Kind() == reflect.Func:
		want = "fn"
	case t == remoteType:
		want = "fn|obj"
	case t == readerType || t == readCloserType:
		want = "bytes"
	case t == itemsType:
		want = "iter"
	case t == anyType:
		want = m.Kind
	default:
		return reflect.Value{}, fmt.Errorf("a %q value cannot be received as a %s", m.Kind, t)
	}
	if m.Kind != want && !(want == "fn|obj" && (m.Kind == "fn" || m.Kind == "obj")) {
		return reflect.Value{}, fmt.Errorf("a %q value cannot be received as a %s", m.Kind, t)
	}
	c, err := w.broker.dial(ctx, m.ID)
	if err != nil {
		return reflect.Value{}, err
	}
	var v any
	switch m.Kind {
	case "fn", "obj":
		methods := m.Methods
		if m.Kind == "fn" {
			methods = []string{"call"}
		}
		r := &Remote{w: w, p: w.newPeer(c, w.name+":callback", nil, nil), methods: methods}
		if t.Kind() == reflect.Func {
			return r.makeFunc(t), nil
		}
		v = r
	case "bytes":
		// A byte stream goes one way. The TypeScript sdk half-closes the direction it never
		// uses; Go's yamux (2019) ends reads at a local close, so ours stays open until Close.
		v = &byteStream{c: c}
	case "iter":
		v = newItems(w, c)
	default:
		c.Close()
		return reflect.Value{}, fmt.Errorf("unknown marker kind %q", m.Kind)
	}
	out := reflect.New(t).Elem()
	out.Set(reflect.ValueOf(v))
	return out, nil
}

// byteStream is a received byte stream. Close it when done. Closed before EOF, the sender
// sees a FIN, not a reset (Go's yamux of 2019 has none): a sender with more to write waits
// on the window until the connection ends.
type byteStream struct {
	c    net.Conn
	once sync.Once
}

func (b *byteStream) Read(p []byte) (int, error) { return b.c.Read(p) }

func (b *byteStream) Close() error {
	b.once.Do(func() { _ = b.c.Close() })
	return nil
}

// ---- Remote --------------------------------------------------------------------------------

// Remote is the other side's object: a dispensed plugin on the host, a callback or object
// received as an argument. Call calls its methods.
type Remote struct {
	w       *wire
	p       *peer
	methods []string
}

// Methods lists the remote's method names, when the other side said (an object passed as
// an argument lists them; a dispensed plugin does not).
func (r *Remote) Methods() []string { return append([]string(nil), r.methods...) }

// Call calls method with args; its LAST argument receives the result: a pointer to a value
// of the result's type, or nil to discard it. Arguments may be funcs, Object(v) values,
// io.Readers and channels (protocol.md §13); ctx cancels the call ($/cancelRequest).
//
//	var v []byte
//	err := kv.Call(ctx, "get", "key", &v)
//	err = kv.Call(ctx, "put", "key", []byte("value"), nil)
//
// An error answer is a *RemoteError; a cancelled call's error wraps ctx.Err().
func (r *Remote) Call(ctx context.Context, method string, argsAndResult ...any) error {
	if len(argsAndResult) == 0 {
		return newError(ErrCodeBadArgument, "Call needs a place for the result as its last argument (nil to discard it)", nil)
	}
	result := argsAndResult[len(argsAndResult)-1]
	args := argsAndResult[:len(argsAndResult)-1]
	var dst reflect.Value
	if result != nil {
		dst = reflect.ValueOf(result)
		if dst.Kind() != reflect.Ptr || dst.IsNil() {
			return newError(ErrCodeBadArgument, fmt.Sprintf("the result of Call must be a non-nil pointer or nil, not %T", result), nil)
		}
	}
	raw, err := r.call(ctx, method, args)
	if err != nil {
		return err
	}
	if result == nil {
		// A marker nobody wants is not dialled: the sender gives up after its broker timeout.
		return nil
	}
	v, err := r.w.decodeArg(ctx, raw, dst.Elem().Type())
	if err != nil {
		return newError(ErrCodeCodec, fmt.Sprintf("the result of %q", method), err)
	}
	dst.Elem().Set(v)
	return nil
}

func (r *Remote) call(ctx context.Context, method string, args []any) ([]byte, error) {
	scope := newScope()
	defer scope.end()
	out := make([]any, len(args))
	for i, a := range args {
		m, err := r.w.marshal(a, scope)
		if err != nil {
			return nil, fmt.Errorf("argument %d of %q: %w", i+1, method, err)
		}
		out[i] = m
	}
	params, err := r.w.codec.Encode(out)
	if err != nil {
		return nil, err
	}
	return r.p.call(ctx, method, params)
}

// Close releases the remote: its stream closes (for a callback, the other side stops
// serving it).
func (r *Remote) Close() error {
	r.p.close(nil)
	return nil
}

// makeFunc builds a func of type t that calls the remote callback ("call"). A
// context.Context first parameter is the call's context; a trailing error result receives
// the call's error (without one, a failure is logged and the zero value returned).
func (r *Remote) makeFunc(t reflect.Type) reflect.Value {
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		ctx := context.Background()
		var args []any
		for i, a := range in {
			if i == 0 && t.In(0) == contextType {
				if c, ok := a.Interface().(context.Context); ok && c != nil {
					ctx = c
				}
				continue
			}
			if t.IsVariadic() && i == len(in)-1 {
				for j := 0; j < a.Len(); j++ {
					args = append(args, a.Index(j).Interface())
				}
				continue
			}
			args = append(args, a.Interface())
		}
		out := make([]reflect.Value, t.NumOut())
		for i := range out {
			out[i] = reflect.Zero(t.Out(i))
		}
		hasErr := t.NumOut() > 0 && t.Out(t.NumOut()-1) == errorType
		raw, err := r.call(ctx, "call", args)
		if err == nil && t.NumOut() > 0 && t.Out(0) != errorType {
			var v reflect.Value
			v, err = r.w.decodeArg(ctx, raw, t.Out(0))
			if err == nil {
				out[0] = v
			}
		}
		if err != nil {
			if hasErr {
				out[len(out)-1] = reflect.ValueOf(&err).Elem()
			} else {
				r.w.log.Error("a callback failed", "error", err)
			}
		}
		return out
	})
}

// ---- object streams ----------------------------------------------------------------------

// Items is a received object stream: Next decodes the items in order.
type Items struct {
	w    *wire
	p    *peer
	ch   chan []byte
	mu   sync.Mutex
	err  error
	done chan struct{}
	once sync.Once
}

// itemsBuffer is how many items wait unread before the receiver stops reading the stream,
// which holds the sender back.
const itemsBuffer = 256

func newItems(w *wire, c net.Conn) *Items {
	it := &Items{w: w, ch: make(chan []byte, itemsBuffer), done: make(chan struct{})}
	it.p = w.newPeer(c, w.name+":items", nil, func(method string, params []byte) {
		switch method {
		case "item":
			raws, _, _ := w.codec.split(params)
			var raw []byte
			if len(raws) > 0 {
				raw = raws[0]
			}
			select {
			case it.ch <- raw:
			case <-it.done:
			}
		case "end":
			it.finish(nil)
		case "error":
			raws, _, _ := w.codec.split(params)
			e := &RemoteError{RPCCode: CodeApplication, Message: "the remote stream failed"}
			if len(raws) > 0 {
				var d struct {
					Message string `json:"message"`
					Name    string `json:"name"`
					Code    any    `json:"code"`
					Data    any    `json:"data"`
				}
				if w.codec.Decode(raws[0], &d) == nil {
					e.Message, e.Name, e.Code, e.Data = d.Message, d.Name, d.Code, d.Data
				}
			}
			it.finish(e)
		}
	})
	go func() {
		<-it.p.Done()
		it.finish(newError(ErrCodeClosed, "the object stream ended without \"end\"", nil))
	}()
	return it
}

func (it *Items) finish(err error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	select {
	case <-it.done:
		return
	default:
	}
	it.err = err
	close(it.done)
}

// Next decodes the next item into v (a pointer) and returns true, or returns false at the
// end of the stream, with the error that ended it (nil after the sender's "end").
func (it *Items) Next(ctx context.Context, v any) (bool, error) {
	select {
	case raw := <-it.ch:
		return true, it.w.codec.Decode(raw, v)
	default:
	}
	select {
	case raw := <-it.ch:
		return true, it.w.codec.Decode(raw, v)
	case <-it.done:
		// items that arrived before the end come first
		select {
		case raw := <-it.ch:
			return true, it.w.codec.Decode(raw, v)
		default:
		}
		it.mu.Lock()
		defer it.mu.Unlock()
		return false, it.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Close stops receiving: the sender sees its stream close.
func (it *Items) Close() error {
	it.finish(nil)
	it.p.close(nil)
	return nil
}
