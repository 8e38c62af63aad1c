package plugwire

import (
	"context"
	"io"
	"net"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/yamux"
)

// Methods of the control stream (protocol.md §6).
const (
	methodPing     = "plugwire/ping"
	methodInfo     = "plugwire/info"
	methodInit     = "plugwire/init"
	methodDispense = "plugwire/dispense"
	methodQuit     = "plugwire/quit"
)

// Value is a value as it arrived, decoded on demand (the host's config in Init).
type Value struct {
	raw   []byte
	codec Codec
}

// Decode decodes the value into v (a pointer).
func (v Value) Decode(into any) error { return v.codec.Decode(v.raw, into) }

// IsNull reports whether the value is null (or absent).
func (v Value) IsNull() bool { return v.codec.isNull(v.raw) }

// connOptions are what both ends of a connection agreed on and configured.
type connOptions struct {
	codec         Codec
	version       int
	maxSize       int
	brokerTimeout time.Duration
	log           hclog.Logger
}

// connectionWriteTimeout bounds a write that waits for the connection, and the answer to a
// keepalive ping. yamux's 10 s took a host busy encoding a 40 MiB message on a loaded machine
// (load average 30 on 2 cores) for a dead one.
const connectionWriteTimeout = 30 * time.Second

// yamuxConfig is yamux's default configuration, quieter and more patient. The plugin sends
// no keepalive pings of its own: its host's death shows as EOF on stdin and the end of the
// connection (protocol.md §1, §9), and the host pings it (§5).
func yamuxConfig(log hclog.Logger, plugin bool) *yamux.Config {
	cfg := yamux.DefaultConfig()
	// yamux's own "[ERR] yamux: ..." lines become debug records, not stderr text.
	cfg.LogOutput = log.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
	cfg.ConnectionWriteTimeout = connectionWriteTimeout
	cfg.EnableKeepAlive = !plugin
	return cfg
}

// pluginConn serves one host connection: the control stream, dispensed plugins, broker.
type pluginConn struct {
	session  *yamux.Session
	broker   *broker
	w        *wire
	services map[string]*service
	cfg      *ServeConfig
	quit     func()
}

func servePluginConn(conn net.Conn, o connOptions, services map[string]*service, cfg *ServeConfig, quit func()) (*pluginConn, error) {
	session, err := yamux.Server(conn, yamuxConfig(o.log, true))
	if err != nil {
		return nil, err
	}
	b := newBroker(session, false, o.brokerTimeout)
	pc := &pluginConn{
		session:  session,
		broker:   b,
		w:        &wire{broker: b, codec: o.codec, log: o.log, maxSize: o.maxSize, name: "plugin"},
		services: services,
		cfg:      cfg,
		quit:     quit,
	}
	go pc.acceptLoop(o)
	return pc, nil
}

func (pc *pluginConn) acceptLoop(o connOptions) {
	defer pc.broker.close()
	first := true
	for {
		s, err := pc.session.Accept()
		if err != nil {
			return
		}
		if first {
			// The first stream the host opens is the control channel (§6).
			first = false
			pc.w.newPeer(s, "control", pc.control(o), nil)
			continue
		}
		pc.broker.handle(s)
	}
}

// afterAnswer is a result whose answer must be on the wire before then runs (quit).
type afterAnswer struct {
	result any
	then   func()
}

func (pc *pluginConn) control(o connOptions) handlerFunc {
	return func(ctx context.Context, method string, params []byte) (any, error) {
		c := o.codec
		switch method {
		case methodPing:
			return map[string]any{}, nil
		case methodInfo:
			names := make([]string, 0, len(pc.services))
			methods := map[string]any{}
			for n, s := range pc.services {
				names = append(names, n)
				methods[n] = s.names
			}
			sort.Strings(names)
			return map[string]any{"pid": os.Getpid(), "protocolVersion": o.version, "codec": c.Name(),
				"plugins": names, "methods": methods}, nil
		case methodInit:
			var p map[string]rawValue
			_ = c.Decode(params, &p)
			if pc.cfg.Init != nil {
				if err := pc.cfg.Init(ctx, Value{raw: p["config"], codec: c}); err != nil {
					return nil, err
				}
			}
			if pc.cfg.Start != nil {
				if err := pc.cfg.Start(ctx); err != nil {
					return nil, err
				}
			}
			return map[string]any{}, nil
		case methodDispense:
			var p struct {
				Name string `json:"name"`
			}
			_ = c.Decode(params, &p)
			s, ok := pc.services[p.Name]
			if !ok {
				known := make([]string, 0, len(pc.services))
				for n := range pc.services {
					known = append(known, n)
				}
				sort.Strings(known)
				return nil, &RPCError{Code: CodeUnknownPlugin, Message: "unknown plugin \"" + p.Name + "\"",
					Data: map[string]any{"known": known}}
			}
			id := pc.broker.nextID()
			go func() {
				conn, err := pc.broker.accept(context.Background(), id)
				if err != nil {
					o.log.Warn("the host did not dial a dispensed plugin", "plugin", p.Name, "error", err)
					return
				}
				pc.w.newPeer(conn, p.Name, s.handler(pc.w), nil)
			}()
			return map[string]any{"id": id}, nil
		case methodQuit:
			// Answer first; stop once the answer is written (§9).
			return &afterAnswer{result: map[string]any{}, then: pc.quit}, nil
		}
		return nil, errMethodNotFound
	}
}

func (pc *pluginConn) close() {
	pc.broker.close()
	_ = pc.session.Close()
}

// hostConn is the host end of a connection: it opens the control stream and dispenses.
type hostConn struct {
	session *yamux.Session
	broker  *broker
	w       *wire
	control *peer
}

func newHostConn(conn io.ReadWriteCloser, o connOptions) (*hostConn, error) {
	session, err := yamux.Client(conn, yamuxConfig(o.log, false))
	if err != nil {
		return nil, err
	}
	b := newBroker(session, true, o.brokerTimeout)
	hc := &hostConn{session: session, broker: b,
		w: &wire{broker: b, codec: o.codec, log: o.log, maxSize: o.maxSize, name: "host"}}
	ctl, err := session.Open()
	if err != nil {
		session.Close()
		return nil, err
	}
	hc.control = hc.w.newPeer(ctl, "control", nil, nil)
	go func() {
		defer b.close()
		for {
			s, err := session.Accept()
			if err != nil {
				return
			}
			b.handle(s)
		}
	}()
	return hc, nil
}

// controlCall calls a control method with by-name params and decodes the result.
func (hc *hostConn) controlCall(ctx context.Context, method string, params any, result any) error {
	raw, err := hc.w.codec.Encode(params)
	if err != nil {
		return err
	}
	out, err := hc.control.call(ctx, method, raw)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	return hc.w.codec.Decode(out, result)
}

func (hc *hostConn) dispense(ctx context.Context, name string) (*Remote, error) {
	var r struct {
		ID uint32 `json:"id"`
	}
	if err := hc.controlCall(ctx, methodDispense, map[string]any{"name": name}, &r); err != nil {
		if re, ok := err.(*RemoteError); ok && re.RPCCode == CodeUnknownPlugin {
			return nil, newError(ErrCodeUnknownPlugin, "unknown plugin \""+name+"\"", err)
		}
		return nil, err
	}
	c, err := hc.broker.dial(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	return &Remote{w: hc.w, p: hc.w.newPeer(c, name, nil, nil)}, nil
}

func (hc *hostConn) close() {
	hc.broker.close()
	_ = hc.session.Close()
}
