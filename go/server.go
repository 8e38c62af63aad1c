package plugwire

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// CoreProtocolVersion is the first field of the handshake line (protocol.md §3).
const CoreProtocolVersion = 1

// DefaultMagicCookieKey and DefaultMagicCookieValue are the cookie a plugwire host sets
// when its handshake config names none (protocol.md §1).
const (
	DefaultMagicCookieKey   = "PLUGWIRE_MAGIC_COOKIE"
	DefaultMagicCookieValue = "b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41"
)

// HandshakeConfig must match the host's.
type HandshakeConfig struct {
	// ProtocolVersion is the application protocol version of Plugins. Default 1.
	ProtocolVersion int
	// MagicCookieKey and MagicCookieValue: default plugwire's cookie.
	MagicCookieKey   string
	MagicCookieValue string
}

func (h HandshakeConfig) cookie() (string, string) {
	if h.MagicCookieKey == "" {
		return DefaultMagicCookieKey, DefaultMagicCookieValue
	}
	return h.MagicCookieKey, h.MagicCookieValue
}

// ServeConfig configures Serve. Only Plugins (or VersionedPlugins) is required.
type ServeConfig struct {
	// Handshake: cookie and protocol version. Default: plugwire's cookie, version 1.
	Handshake HandshakeConfig
	// Plugins are the values served, by the name they are dispensed as: each one's
	// exported methods (see the package documentation).
	Plugins map[string]any
	// VersionedPlugins is one plugin set per protocol version, instead of Plugins; the
	// highest version the host offers is served.
	VersionedPlugins map[int]map[string]any
	// Codecs this plugin speaks, most preferred first. Default ["msgpack", "json"]. The
	// host's order decides (protocol.md §2).
	Codecs []string
	// Logger receives Serve's own messages. Default: hclog JSON on stderr (protocol.md §10).
	Logger hclog.Logger
	// Init runs with the host's config (plugwire/init) before the host dispenses anything;
	// an error fails the host's start.
	Init func(ctx context.Context, config Value) error
	// Start runs right after Init succeeded, in the same call.
	Start func(ctx context.Context) error
	// OnShutdown runs before Serve returns (quit, SIGTERM, host gone), bounded by the host's
	// kill grace.
	OnShutdown func()
	// MaxMessageSize is the largest message either way. Default 64 MiB.
	MaxMessageSize int
	// BrokerTimeout bounds broker accepts and dials. Default 5 s.
	BrokerTimeout time.Duration
	// Stdin is what tells the plugin that its host is gone (EOF). Default os.Stdin when it
	// is a pipe or a socket.
	Stdin io.Reader
	// Stdout receives the handshake line. Default os.Stdout.
	Stdout io.Writer
}

const cookieMessage = "This program is a plugin. It is not meant to be run directly: run the program that uses\n" +
	"this plugin, and it will start the plugin itself.\n"

// Serve serves plugins as a plugwire plugin and exits the process when serving ends: 0
// after quit, SIGTERM or the host going away, 1 when it cannot serve (no cookie: run by a
// person; no common version or codec). go-plugin's Serve, for plugwire.
func Serve(cfg *ServeConfig) {
	signal.Ignore(syscall.SIGINT) // the terminal's Ctrl-C is the host's to handle (§9)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	err := ServeContext(ctx, cfg)
	stop()
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// ServeContext serves until the host quits or goes away, or ctx ends, and returns; it
// returns an error when it cannot serve (the reason was logged).
func ServeContext(ctx context.Context, cfg *ServeConfig) error {
	log := cfg.Logger
	if log == nil {
		log = hclog.New(&hclog.LoggerOptions{Name: "plugwire", JSONFormat: true, Output: os.Stderr, Level: hclog.Info})
	}
	key, value := cfg.Handshake.cookie()
	if os.Getenv(key) != value {
		fmt.Fprint(os.Stderr, cookieMessage)
		return newError(ErrCodeCookie, "magic cookie mismatch: not started by a plugwire host", nil)
	}
	sets := cfg.VersionedPlugins
	if sets == nil {
		v := cfg.Handshake.ProtocolVersion
		if v == 0 {
			v = 1
		}
		sets = map[int]map[string]any{v: cfg.Plugins}
	}
	version, err := negotiateVersion(os.Getenv("PLUGIN_PROTOCOL_VERSIONS"), sets)
	if err != nil {
		log.Error(err.Error())
		return err
	}
	codec, err := negotiateCodec(os.Getenv("PLUGWIRE_CODECS"), cfg.Codecs)
	if err != nil {
		log.Error(err.Error())
		return err
	}
	services := map[string]*service{}
	for name, v := range sets[version] {
		s, err := newService(v)
		if err != nil {
			log.Error("cannot serve plugin", "plugin", name, "error", err)
			return err
		}
		services[name] = s
	}
	if os.Getenv("PLUGIN_CLIENT_CERT") != "" {
		err := newError(ErrCodeHandshake, "the host asked for AutoMTLS, which this Go plugin does not support", nil)
		log.Error(err.Error())
		return err
	}
	reattachable := os.Getenv("PLUGWIRE_REATTACHABLE") == "1"
	// Read once and removed from the environment, so that what the plugin starts does not
	// inherit it (§4).
	authToken := takeAuthToken()

	l, err := listen()
	if err != nil {
		log.Error("cannot listen", "error", err)
		return err
	}
	defer l.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var reasonOnce sync.Once
	reason := "context done"
	stop := func(why string) {
		reasonOnce.Do(func() { reason = why })
		cancel()
	}

	// EOF on a stdin that is a pipe or socket means the host is gone (§1), unless we are to
	// outlive it.
	stdin := cfg.Stdin
	if stdin == nil && stdinIsPipe() {
		stdin = os.Stdin
	}
	if stdin != nil && !reattachable {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			stop("the host closed our stdin: it is gone")
		}()
	}

	o := connOptions{codec: codec, version: version, maxSize: cfg.MaxMessageSize,
		brokerTimeout: cfg.BrokerTimeout, log: log}
	if o.maxSize <= 0 {
		o.maxSize = DefaultMaxMessageSize
	}
	var mu sync.Mutex
	var current *pluginConn
	// tcp: every connection first presents the start's token (§4), each checked on its own
	// goroutine, so another local user's connection neither takes the host's place nor
	// holds it up. unix sockets need none: their directory admits only our user.
	token := ""
	if l.network == "tcp" {
		token = authToken
	}
	go acceptAuthenticated(l.ln, token, tokenTimeout, func(conn net.Conn) {
		mu.Lock()
		busy := current != nil
		mu.Unlock()
		if busy {
			conn.Close() // one host per plugin process (§4)
			return
		}
		pc, err := servePluginConn(conn, o, services, cfg, func() { stop("the host asked to quit") })
		if err != nil {
			conn.Close()
			return
		}
		mu.Lock()
		current = pc
		mu.Unlock()
		go func(pc *pluginConn) {
			<-pc.session.CloseChan()
			mu.Lock()
			if current == pc {
				current = nil
			}
			mu.Unlock()
			if !reattachable {
				stop("the host disconnected")
			}
		}(pc)
	})

	out := cfg.Stdout
	if out == nil {
		out = os.Stdout
	}
	line := fmt.Sprintf("%d|%d|%s|%s|jsonrpc+%s\n", CoreProtocolVersion, version, l.network, l.address, codec.Name())
	// One write of one whole line, so nothing printed around it can split it (§3).
	if _, err := io.WriteString(out, line); err != nil {
		log.Error("cannot write the handshake line", "error", err)
		return err
	}
	log.Debug("plugin serving", "address", l.address, "protocol", version, "codec", codec.Name())

	<-ctx.Done()
	log.Debug("plugin shutting down", "reason", reason)
	if cfg.OnShutdown != nil {
		cfg.OnShutdown()
	}
	mu.Lock()
	if current != nil {
		current.close()
	}
	mu.Unlock()
	return nil
}

func stdinIsPipe() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// negotiateVersion picks the highest version both offer (protocol.md §2); an empty offer
// means the plugin's own highest.
func negotiateVersion(offered string, sets map[int]map[string]any) (int, error) {
	served := make([]int, 0, len(sets))
	for v := range sets {
		served = append(served, v)
	}
	sort.Ints(served)
	if len(served) == 0 {
		return 0, newError(ErrCodeNoCommonVersion, "no plugins to serve", nil)
	}
	if strings.TrimSpace(offered) == "" {
		return served[len(served)-1], nil
	}
	best := -1
	for _, s := range strings.Split(offered, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		if _, ok := sets[v]; ok && v > best {
			best = v
		}
	}
	if best < 0 {
		return 0, newError(ErrCodeNoCommonVersion,
			fmt.Sprintf("no common protocol version: the host offers [%s], this plugin serves %v", offered, served), nil)
	}
	return best, nil
}

// negotiateCodec picks the host's first codec that the plugin speaks.
func negotiateCodec(offered string, ours []string) (Codec, error) {
	if len(ours) == 0 {
		ours = []string{"msgpack", "json"}
	}
	if strings.TrimSpace(offered) == "" {
		offered = "msgpack,json"
	}
	for _, c := range strings.Split(offered, ",") {
		c = strings.TrimSpace(c)
		for _, o := range ours {
			if o == c && CodecByName(c) != nil {
				return CodecByName(c), nil
			}
		}
	}
	return nil, newError(ErrCodeNoCommonVersion,
		fmt.Sprintf("no common codec: the host accepts [%s], this plugin speaks %v", offered, ours), nil)
}

// NewLogger is an hclog logger that writes JSON lines on stderr, which a plugwire host
// turns into structured log records (protocol.md §10).
func NewLogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, JSONFormat: true, Output: os.Stderr, Level: hclog.Info})
}
