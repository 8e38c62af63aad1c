package plugwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
)

// ---- a host and a plugin connected in one process ------------------------------------------

type testService struct {
	hung   chan struct{}
	gotCtx atomic.Bool
}

func (s *testService) Add(a, b int) int      { return a + b }
func (s *testService) Echo(v any) any        { return v }
func (s *testService) Bytes(b []byte) []byte { return append([]byte("got:"), b...) }
func (s *testService) Nothing()              {}
func (s *testService) Upper(v string) string { return strings.ToUpper(v) }
func (s *testService) Lookup(key string) error {
	return &Error{Message: "no " + key, Code: "ENOENT", Data: map[string]any{"key": key}}
}
func (s *testService) NumCode() error {
	return &Error{Message: "numbered", Code: 42, Name: "RangeError"}
}
func (s *testService) Plain() error { return errors.New("plain failure") }
func (s *testService) Panics() int  { panic("boom") }
func (s *testService) Sum(ctx context.Context, n int, each func(context.Context, int) (int, error)) (int, error) {
	total := 0
	for i := 1; i <= n; i++ {
		v, err := each(ctx, i)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}
func (s *testService) Greet(ctx context.Context, who *Remote) (string, error) {
	var out string
	err := who.Call(ctx, "hello", "plugin", &out)
	return out, err
}
func (s *testService) Hang(ctx context.Context) error {
	close(s.hung)
	<-ctx.Done()
	s.gotCtx.Store(true)
	return ctx.Err()
}
func (s *testService) Produce(n int) io.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{7}, n))
}
func (s *testService) Consume(r io.ReadCloser) (int, error) {
	defer r.Close()
	b, err := io.ReadAll(r)
	return len(b), err
}
func (s *testService) Count(n int) <-chan int {
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}()
	return ch
}

type greeter struct{}

func (greeter) Hello(name string) string { return "hello " + name }

type pair struct {
	host   *hostConn
	plugin *pluginConn
	svc    *testService
	quit   chan struct{}
}

func connect(t *testing.T, codec Codec) *pair {
	t.Helper()
	a, b := net.Pipe()
	svc := &testService{hung: make(chan struct{})}
	s, err := newService(svc)
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.NewNullLogger()
	o := connOptions{codec: codec, version: 1, maxSize: 1 << 20, brokerTimeout: time.Second, log: log}
	quit := make(chan struct{})
	pc, err := servePluginConn(b, o, map[string]*service{"test": s}, &ServeConfig{}, func() { close(quit) })
	if err != nil {
		t.Fatal(err)
	}
	hc, err := newHostConn(a, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hc.close()
		pc.close()
	})
	return &pair{host: hc, plugin: pc, svc: svc, quit: quit}
}

func forEachCodec(t *testing.T, f func(t *testing.T, p *pair, r *Remote)) {
	for _, c := range []Codec{JSON, Msgpack} {
		t.Run(c.Name(), func(t *testing.T) {
			p := connect(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := p.host.dispense(ctx, "test")
			if err != nil {
				t.Fatal(err)
			}
			f(t, p, r)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// ---- calls --------------------------------------------------------------------------------

func TestCall_positionalArgumentsAndTypedResult(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var n int
		if err := r.Call(ctx(t), "add", 2, 40, &n); err != nil || n != 42 {
			t.Fatalf("add = %d, %v", n, err)
		}
		var s string
		if err := r.Call(ctx(t), "Upper", "abc", &s); err != nil || s != "ABC" {
			t.Fatalf("Upper by its Go name = %q, %v", s, err)
		}
	})
}

func TestCall_bytesTravelAsBinary(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var b []byte
		if err := r.Call(ctx(t), "bytes", []byte{0, 1, 255}, &b); err != nil || !bytes.Equal(b, []byte("got:\x00\x01\xff")) {
			t.Fatalf("bytes = %q, %v", b, err)
		}
		var v any
		if err := r.Call(ctx(t), "echo", map[string]any{"b": []byte{9}}, &v); err != nil {
			t.Fatal(err)
		}
		if got, ok := v.(map[string]any)["b"].([]byte); !ok || !bytes.Equal(got, []byte{9}) {
			t.Fatalf("echo of nested bytes into any = %#v", v)
		}
	})
}

func TestCall_aVoidMethodAnswersNull(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		raw, err := r.call(ctx(t), "nothing", nil)
		if err != nil || !p.host.w.codec.isNull(raw) {
			t.Fatalf("nothing = %q, %v", raw, err)
		}
	})
}

func TestCall_applicationErrorCarriesStringCodeNameAndData(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		err := r.Call(ctx(t), "lookup", "k", nil)
		var re *RemoteError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v", err)
		}
		if re.RPCCode != CodeApplication || re.Code != "ENOENT" || re.Name != "Error" || re.Message != "no k" {
			t.Fatalf("remote error = %#v", re)
		}
		if d, ok := re.Data.(map[string]any); !ok || d["key"] != "k" {
			t.Fatalf("data = %#v", re.Data)
		}
		err = r.Call(ctx(t), "numCode", nil)
		if !errors.As(err, &re) || re.Code != 42 || re.Name != "RangeError" {
			t.Fatalf("numCode: %#v", err)
		}
		err = r.Call(ctx(t), "plain", nil)
		if !errors.As(err, &re) || re.Code != CodeApplication || re.Message != "plain failure" {
			t.Fatalf("plain: %#v", err)
		}
	})
}

func TestCall_unknownMethodIsMethodNotFoundWithDataMethod(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		err := r.Call(ctx(t), "nope", nil)
		var re *RemoteError
		if !errors.As(err, &re) || re.RPCCode != CodeMethodNotFound {
			t.Fatalf("err = %v", err)
		}
		if d, ok := re.Data.(map[string]any); !ok || d["method"] != "nope" {
			t.Fatalf("data = %#v", re.Data)
		}
	})
}

func TestCall_badArgumentsAreInvalidParams(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var re *RemoteError
		if err := r.Call(ctx(t), "upper", 42, nil); !errors.As(err, &re) || re.RPCCode != CodeInvalidParams {
			t.Fatalf("a number for a string: %v", err)
		}
		if err := r.Call(ctx(t), "add", 1, 2, 3, nil); !errors.As(err, &re) || re.RPCCode != CodeInvalidParams {
			t.Fatalf("too many arguments: %v", err)
		}
	})
}

func TestCall_aPanickingMethodAnswersInternalErrorAndTheConnectionLives(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var re *RemoteError
		if err := r.Call(ctx(t), "panics", nil); !errors.As(err, &re) || re.RPCCode != CodeInternalError {
			t.Fatalf("err = %v", err)
		}
		var n int
		if err := r.Call(ctx(t), "add", 1, 1, &n); err != nil || n != 2 {
			t.Fatalf("after the panic: %d %v", n, err)
		}
	})
}

func TestCall_resultMustBeAPointerOrNil(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		if err := r.Call(ctx(t), "add", 1, 2); Code(err) != ErrCodeBadArgument {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDispense_unknownPluginFailsWithItsCode(t *testing.T) {
	p := connect(t, JSON)
	_, err := p.host.dispense(ctx(t), "nope")
	if Code(err) != ErrCodeUnknownPlugin {
		t.Fatalf("err = %v", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Data.(map[string]any)["known"].([]any)[0] != "test" {
		t.Fatalf("data = %#v", err)
	}
}

// ---- cancellation -------------------------------------------------------------------------

func TestCancel_cancellingTheContextCancelsTheHandlersContext(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		c, cancel := context.WithCancel(ctx(t))
		done := make(chan error, 1)
		go func() { done <- r.Call(c, "hang", nil) }()
		<-p.svc.hung
		cancel()
		err := <-done
		if Code(err) != ErrCodeCancelled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !p.svc.gotCtx.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the handler's context was never cancelled")
			}
			time.Sleep(5 * time.Millisecond)
		}
		var n int
		if err := r.Call(ctx(t), "add", 1, 1, &n); err != nil || n != 2 {
			t.Fatalf("after the cancel: %v", err)
		}
	})
}

// ---- callbacks and streams ----------------------------------------------------------------

func TestCallback_aGoFuncArgumentIsCalledBackDuringTheCall(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var seen []int
		each := func(i int) int { seen = append(seen, i); return i * 10 }
		var total int
		if err := r.Call(ctx(t), "sum", 3, each, &total); err != nil || total != 60 {
			t.Fatalf("sum = %d, %v", total, err)
		}
		if len(seen) != 3 {
			t.Fatalf("seen = %v", seen)
		}
	})
}

func TestCallback_anErrorOfTheCallbackReachesTheCaller(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		each := func(i int) (int, error) { return 0, &Error{Message: "stop", Code: "E_STOP"} }
		err := r.Call(ctx(t), "sum", 3, each, nil)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != "E_STOP" {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestCallback_anObjectsMethodsCanBeCalled(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var s string
		if err := r.Call(ctx(t), "greet", Object(greeter{}), &s); err != nil || s != "hello plugin" {
			t.Fatalf("greet = %q, %v", s, err)
		}
	})
}

func TestStream_aReaderResultIsAByteStream(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var rc io.ReadCloser
		if err := r.Call(ctx(t), "produce", 1<<20, &rc); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || len(b) != 1<<20 || b[0] != 7 {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
	})
}

func TestStream_aReaderArgumentIsAByteStream(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var n int
		if err := r.Call(ctx(t), "consume", bytes.NewReader(make([]byte, 700_000)), &n); err != nil || n != 700_000 {
			t.Fatalf("consume = %d, %v", n, err)
		}
	})
}

func TestStream_aChannelResultIsAnObjectStream(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		var items *Items
		if err := r.Call(ctx(t), "count", 1000, &items); err != nil {
			t.Fatal(err)
		}
		sum := 0
		for {
			var v int
			ok, err := items.Next(ctx(t), &v)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			sum += v
		}
		if sum != 500500 {
			t.Fatalf("sum = %d", sum)
		}
	})
}

// ---- control ------------------------------------------------------------------------------

func TestControl_quitIsAnsweredBeforeThePluginStops(t *testing.T) {
	p := connect(t, Msgpack)
	if err := p.host.controlCall(ctx(t), methodQuit, map[string]any{}, nil); err != nil {
		t.Fatalf("quit: %v", err)
	}
	select {
	case <-p.quit:
	case <-time.After(5 * time.Second):
		t.Fatal("quit did not stop the plugin")
	}
}

func TestControl_infoListsPluginsAndMethods(t *testing.T) {
	p := connect(t, JSON)
	var info struct {
		Pid      int                 `json:"pid"`
		Codec    string              `json:"codec"`
		Plugins  []string            `json:"plugins"`
		Methods  map[string][]string `json:"methods"`
		Protocol int                 `json:"protocolVersion"`
	}
	if err := p.host.controlCall(ctx(t), methodInfo, map[string]any{}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Codec != "json" || info.Protocol != 1 || len(info.Plugins) != 1 || info.Plugins[0] != "test" {
		t.Fatalf("info = %+v", info)
	}
	if !strings.Contains(strings.Join(info.Methods["test"], ","), "add") {
		t.Fatalf("methods = %v", info.Methods)
	}
}

// ---- hostile peers ------------------------------------------------------------------------

// rawStream opens a stream to a served peer and speaks bytes on it.
func rawPeer(t *testing.T, codec Codec, maxSize int) (net.Conn, *testService) {
	t.Helper()
	a, b := net.Pipe()
	svc := &testService{hung: make(chan struct{})}
	s, _ := newService(svc)
	w := &wire{codec: codec, log: hclog.NewNullLogger(), maxSize: maxSize}
	p := newPeer(b, peerOptions{codec: codec, maxSize: maxSize, handler: s.handler(w)})
	t.Cleanup(func() { p.close(nil); a.Close() })
	return a, svc
}

func readMessage(t *testing.T, c net.Conn, codec Codec) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(c, 1<<20)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var m map[string]any
	if err := codec.Decode(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func code(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	f, _ := toFloat(e["code"])
	return f
}

func TestHostile_aFrameOverTheLimitIsRefusedFromItsHeaderAndTheStreamCloses(t *testing.T) {
	c, _ := rawPeer(t, JSON, 1024)
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], 1<<31)
	go c.Write(h[:])
	m := readMessage(t, c, JSON)
	if code(m) != CodeTooLarge || m["id"] != nil {
		t.Fatalf("answer = %v", m)
	}
	data := m["error"].(map[string]any)["data"].(map[string]any)
	if data["size"] != float64(1<<31) || data["limit"] != float64(1024) {
		t.Fatalf("data = %v", data)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the stream stayed open: %v", err)
	}
}

func TestHostile_deeplyNestedMessagesAreParseErrorsNotCrashes(t *testing.T) {
	for _, codec := range []Codec{JSON, Msgpack} {
		t.Run(codec.Name(), func(t *testing.T) {
			c, _ := rawPeer(t, codec, 1<<20)
			var msg []byte
			if codec == JSON {
				msg = []byte(`{"jsonrpc":"2.0","id":1,"method":"echo","params":[` + strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000) + `]}`)
			} else {
				msg = append([]byte{0x84, 0xa7}, "jsonrpc"...)
				msg = append(msg, 0xa3, '2', '.', '0', 0xa2, 'i', 'd', 0x01, 0xa6)
				msg = append(msg, "method"...)
				msg = append(msg, 0xa4, 'e', 'c', 'h', 'o', 0xa6)
				msg = append(msg, "params"...)
				msg = append(msg, bytes.Repeat([]byte{0x91}, 500_000)...)
				msg = append(msg, 0xc0)
			}
			go c.Write(frame(msg))
			m := readMessage(t, c, codec)
			if code(m) != CodeParseError {
				t.Fatalf("answer = %v", m)
			}
			// the stream is still served
			go c.Write(frame(Must(codec.Encode(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "add", "params": []int{1, 2}}))))
			m = readMessage(t, c, codec)
			if f, _ := toFloat(m["result"]); f != 3 {
				t.Fatalf("answer = %v", m)
			}
		})
	}
}

func Must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestHostile_invalidRequestsAreAnsweredWithInvalidRequest(t *testing.T) {
	c, _ := rawPeer(t, JSON, 1<<20)
	for _, msg := range []string{
		`{"jsonrpc":"1.0","id":1,"method":"add"}`,
		`{"jsonrpc":"2.0","id":1,"method":5}`,
		`{"jsonrpc":"2.0","id":{},"method":"add"}`,
		`{"jsonrpc":"2.0","id":1,"method":"add","params":7}`,
		`{"foo":"bar"}`,
	} {
		go c.Write(frame([]byte(msg)))
		if m := readMessage(t, c, JSON); code(m) != CodeInvalidRequest {
			t.Fatalf("%s: answer = %v", msg, m)
		}
	}
	go c.Write(frame([]byte(`not json`)))
	if m := readMessage(t, c, JSON); code(m) != CodeParseError {
		t.Fatalf("answer = %v", m)
	}
}

func TestHostile_aBatchIsAnsweredWithAnArray(t *testing.T) {
	c, _ := rawPeer(t, JSON, 1<<20)
	go c.Write(frame([]byte(`[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},{"jsonrpc":"2.0","method":"add","params":[1,2]},{"jsonrpc":"2.0","id":2,"method":"nope"}]`)))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := readFrame(c, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := JSON.Decode(b, &out); err != nil || len(out) != 2 {
		t.Fatalf("batch answer = %s, %v", b, err)
	}
}

func TestHostile_aTruncatedMsgpackMessageIsAParseError(t *testing.T) {
	c, _ := rawPeer(t, Msgpack, 1<<20)
	go c.Write(frame([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})) // a map of 4 billion entries, and nothing
	if m := readMessage(t, c, Msgpack); code(m) != CodeParseError {
		t.Fatalf("answer = %v", m)
	}
}

// ---- broker -------------------------------------------------------------------------------

func brokerPair(t *testing.T, timeout time.Duration) (*broker, *broker) {
	a, b := net.Pipe()
	cs, _ := yamux.Client(a, yamuxConfig(hclog.NewNullLogger(), false))
	ss, _ := yamux.Server(b, yamuxConfig(hclog.NewNullLogger(), true))
	hb, pb := newBroker(cs, true, timeout), newBroker(ss, false, timeout)
	go func() {
		for {
			s, err := ss.Accept()
			if err != nil {
				return
			}
			pb.handle(s)
		}
	}()
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return hb, pb
}

func TestBroker_anIdServesOneDial(t *testing.T) {
	hb, pb := brokerPair(t, 300*time.Millisecond)
	id := pb.nextID()
	if id%2 != 0 {
		t.Fatalf("the plugin minted odd id %d", id)
	}
	accepted := make(chan error, 1)
	go func() { _, err := pb.accept(context.Background(), id); accepted <- err }()
	if _, err := hb.dial(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if _, err := hb.dial(ctx(t), id); Code(err) != ErrCodeBroker {
		t.Fatalf("a second dial of the id: %v", err)
	}
}

func TestBroker_anAcceptWithoutADialTimesOut(t *testing.T) {
	_, pb := brokerPair(t, 100*time.Millisecond)
	if _, err := pb.accept(context.Background(), pb.nextID()); Code(err) != ErrCodeBroker {
		t.Fatalf("err = %v", err)
	}
}

func TestBroker_aDialThatStartsBeforeItsAcceptIsHeldUntilTheAccept(t *testing.T) {
	hb, pb := brokerPair(t, 2*time.Second)
	id := pb.nextID()
	dialed := make(chan error, 1)
	go func() { _, err := hb.dial(ctx(t), id); dialed <- err }()
	// Wait until the broker holds the dial: it arrived before the accept.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pb.mu.Lock()
		_, held := pb.held[id]
		pb.mu.Unlock()
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dial was never held")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := pb.accept(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
}

// ---- names --------------------------------------------------------------------------------

func TestWireName_lowerCasesTheFirstWordAsTypeScriptNamesMethods(t *testing.T) {
	for in, want := range map[string]string{"Put": "put", "GetUser": "getUser", "ID": "id", "HTTPGet": "httpGet", "X": "x"} {
		if got := WireName(in); got != want {
			t.Errorf("WireName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostile_handlersBeyondTheConcurrencyLimitWaitUnread(t *testing.T) {
	a, b := net.Pipe()
	release := make(chan struct{})
	var running atomic.Int32
	p := newPeer(b, peerOptions{codec: JSON, maxConcurrent: 2, handler: func(ctx context.Context, m string, _ []byte) (any, error) {
		running.Add(1)
		<-release
		return nil, nil
	}})
	t.Cleanup(func() { p.close(nil); a.Close() })
	go func() {
		for i := 1; i <= 3; i++ {
			a.Write(frame([]byte(`{"jsonrpc":"2.0","id":` + string(rune('0'+i)) + `,"method":"x"}`)))
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a third handler would have started by now
	if n := running.Load(); n != 2 {
		t.Fatalf("%d handlers running, limit 2", n)
	}
	close(release)
	for i := 0; i < 3; i++ {
		readMessage(t, a, JSON)
	}
	if n := running.Load(); n != 3 {
		t.Fatalf("%d handlers ran", n)
	}
}

func TestBroker_aStreamThatNeverSendsItsIdIsClosedAndHoldsUpNobody(t *testing.T) {
	hb, pb := brokerPair(t, 200*time.Millisecond)
	silent, err := hb.session.Open()
	if err != nil {
		t.Fatal(err)
	}
	// yamux opens a stream with its first frame: a window update carrying SYN, no id bytes.
	id := pb.nextID()
	accepted := make(chan error, 1)
	go func() { _, err := pb.accept(context.Background(), id); accepted <- err }()
	if _, err := hb.dial(ctx(t), id); err != nil {
		t.Fatalf("a dial behind a silent stream: %v", err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the silent stream was not closed: %v", err)
	}
}

func TestClient_handshakeLinesOutsideWhatTheHostOfferedAreRefused(t *testing.T) {
	c := NewClient(&ClientConfig{Codecs: []string{"json"}, ProtocolVersions: []int{1, 2}})
	for _, line := range []string{
		"1|2|unix|/tmp/x/plugin.sock|jsonrpc+msgpack",       // a codec not offered
		"1|3|unix|/tmp/x/plugin.sock|jsonrpc+json",          // a version not offered
		"2|1|unix|/tmp/x/plugin.sock|jsonrpc+json",          // another core version
		"1|1|tcp|10.0.0.1:4000|jsonrpc+json",                // tcp that is not loopback
		"1|1|unix||jsonrpc+json",                            // no address
		"1|1|unix|/tmp/x/plugin.sock|jsonrpc+json|MIIBcert", // TLS, which this host does not speak
		"1|1|pipe|/tmp/x|jsonrpc+json",                      // an unknown network
		"1|1|unix|/tmp/x/plugin.sock",                       // 4 fields
	} {
		c.codec = nil
		if _, err := c.parseHandshake(line); Code(err) != ErrCodeHandshake {
			t.Errorf("%q: err = %v", line, err)
		}
	}
	c.codec = nil
	if f, err := c.parseHandshake("1|2|tcp|127.0.0.1:4000|jsonrpc+json"); err != nil || f[3] != "127.0.0.1:4000" || c.version != 2 {
		t.Fatalf("a valid line: %v %v", f, err)
	}
}

func TestCall_aValueThatCannotTravelFailsTheCallBeforeItIsSent(t *testing.T) {
	forEachCodec(t, func(t *testing.T, p *pair, r *Remote) {
		if err := r.Call(ctx(t), "echo", make(chan<- int), nil); Code(err) != ErrCodeBadArgument {
			t.Fatalf("a send-only channel: %v", err)
		}
		if err := r.Call(ctx(t), "echo", r, nil); Code(err) != ErrCodeBadArgument {
			t.Fatalf("a *Remote passed on: %v", err)
		}
		if err := r.Call(ctx(t), "echo", func() (int, int) { return 1, 2 }, nil); Code(err) != ErrCodeBadArgument {
			t.Fatalf("a func of a shape that cannot be served: %v", err)
		}
	})
}

func TestYamux_thePluginLeavesLivenessToItsHostAndWaitsLongerThanYamuxsTenSeconds(t *testing.T) {
	plugin, host := yamuxConfig(hclog.NewNullLogger(), true), yamuxConfig(hclog.NewNullLogger(), false)
	if plugin.EnableKeepAlive {
		t.Error("the plugin pings its host: a busy host would be taken for a dead one")
	}
	if !host.EnableKeepAlive {
		t.Error("the host does not ping its plugin")
	}
	if plugin.ConnectionWriteTimeout < 30*time.Second || host.ConnectionWriteTimeout < 30*time.Second {
		t.Errorf("write timeouts %s, %s: yamux's 10 s is too short on a loaded machine", plugin.ConnectionWriteTimeout, host.ConnectionWriteTimeout)
	}
}
