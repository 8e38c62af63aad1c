package plugwire

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ClientConfig configures a host's client of one plugin process. Only Cmd is required.
type ClientConfig struct {
	// Cmd is the plugin command, not started yet. Its Env, when set, replaces the host's
	// environment; plugwire adds its variables either way (protocol.md §1).
	Cmd *exec.Cmd
	// Handshake: the cookie. Default plugwire's cookie.
	Handshake HandshakeConfig
	// ProtocolVersions the host speaks, offered in PLUGIN_PROTOCOL_VERSIONS. Default
	// [Handshake.ProtocolVersion], or [1].
	ProtocolVersions []int
	// Codecs the host accepts, most preferred first. Default ["msgpack", "json"].
	Codecs []string
	// Logger receives the plugin's log records (its stderr, hclog JSON or text) and the
	// client's own messages. Default: hclog to stderr.
	Logger hclog.Logger
	// Config is sent to the plugin in plugwire/init, before anything is dispensed.
	Config any
	// StartTimeout bounds the start: spawn, handshake, connection and init. Default 60 s.
	StartTimeout time.Duration
	// KillGrace is how long Kill waits after plugwire/quit before SIGKILL. Default 2 s.
	KillGrace time.Duration
	// MaxMessageSize is the largest message either way. Default 64 MiB.
	MaxMessageSize int
	// BrokerTimeout bounds broker accepts and dials. Default 5 s.
	BrokerTimeout time.Duration
	// UnixSocketDir is where the plugin makes its socket directory (PLUGIN_UNIX_SOCKET_DIR).
	UnixSocketDir string
	// Network the plugin listens on: "unix" or "tcp" (loopback; PLUGWIRE_NETWORK). Default
	// "unix".
	Network string
	// InsecureTCP opts out of tcp authentication (protocol.md §4): no PLUGWIRE_AUTH_TOKEN is
	// set and no token is sent, for plugins that do not implement it. Then any local user
	// can connect to the plugin's port before the host does. Default false.
	InsecureTCP bool
}

// Client starts and drives one plugin process (go-plugin's Client, for plugwire).
type Client struct {
	cfg       ClientConfig
	log       hclog.Logger
	mu        sync.Mutex
	started   bool
	startErr  error
	conn      *hostConn
	stdin     io.WriteCloser
	exited    chan struct{}
	exitErr   error
	handshake []string
	codec     Codec
	version   int
	dispensed map[string]*Remote
	stderrMu  sync.Mutex
	stderr    []string // the last lines, for errors
	killOnce  sync.Once
}

// NewClient makes a client; the plugin starts on Start or the first Dispense.
func NewClient(cfg *ClientConfig) *Client {
	c := &Client{cfg: *cfg, exited: make(chan struct{}), dispensed: map[string]*Remote{}}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = hclog.New(&hclog.LoggerOptions{Name: "plugwire", Output: os.Stderr, Level: hclog.Info})
	}
	return c
}

const stderrTailLines = 20

// maxLogLine bounds one line of plugin output; longer lines are split (protocol.md §10).
const maxLogLine = 64 << 10

var handshakeAttempt = regexp.MustCompile(`(\d+)\|(\d+)\|([a-z0-9]+)\|`)

// Start starts the plugin, reads its handshake, connects and sends its config. It is
// called by Dispense; calling it again returns the first start's result.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return c.startErr
	}
	c.started = true
	c.startErr = c.start(ctx)
	if c.startErr != nil {
		c.killLocked()
	}
	return c.startErr
}

func (c *Client) versions() []int {
	if len(c.cfg.ProtocolVersions) > 0 {
		return c.cfg.ProtocolVersions
	}
	if c.cfg.Handshake.ProtocolVersion > 0 {
		return []int{c.cfg.Handshake.ProtocolVersion}
	}
	return []int{1}
}

func (c *Client) codecs() []string {
	if len(c.cfg.Codecs) > 0 {
		return c.cfg.Codecs
	}
	return []string{"msgpack", "json"}
}

func (c *Client) start(ctx context.Context) error {
	cmd := c.cfg.Cmd
	if cmd == nil {
		return newError(ErrCodeBadArgument, "ClientConfig.Cmd is required", nil)
	}
	timeout := c.cfg.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	key, value := c.cfg.Handshake.cookie()
	vs := make([]string, len(c.versions()))
	for i, v := range c.versions() {
		vs[i] = strconv.Itoa(v)
	}
	env = append(env, key+"="+value, "PLUGIN_PROTOCOL_VERSIONS="+strings.Join(vs, ","),
		"PLUGWIRE_CODECS="+strings.Join(c.codecs(), ","))
	if c.cfg.UnixSocketDir != "" {
		env = append(env, "PLUGIN_UNIX_SOCKET_DIR="+c.cfg.UnixSocketDir)
	}
	// The secret of this start, which a tcp connection presents first (§4).
	token := ""
	switch c.cfg.Network {
	case "", "unix":
	case "tcp":
		env = append(env, "PLUGWIRE_NETWORK=tcp")
		if !c.cfg.InsecureTCP {
			var err error
			if token, err = newAuthToken(); err != nil {
				return err
			}
			env = append(env, envAuthToken+"="+token)
		}
	default:
		return newError(ErrCodeBadArgument, fmt.Sprintf("ClientConfig.Network %q: expected \"unix\" or \"tcp\"", c.cfg.Network), nil)
	}
	cmd.Env = env
	// Its own process group: Kill reaches what the plugin started, and the terminal's
	// Ctrl-C reaches only the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return newError(ErrCodePluginExited, "cannot start the plugin", err)
	}
	// The host keeps the plugin's stdin open for the plugin's whole life: its EOF tells
	// the plugin the host is gone (§1).
	c.stdin = stdin
	lines := make(chan string, 1)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		c.readStdout(stdout, lines)
	}()
	go func() {
		defer pipes.Done()
		c.readStderr(stderr)
	}()
	go func() {
		pipes.Wait() // cmd.Wait closes the pipes: read them to the end first
		// Written before exited closes; read only after it has (no lock: Kill waits on
		// exited while holding c.mu).
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	var line string
	select {
	case line = <-lines:
	case <-c.exited:
		return newError(ErrCodePluginExited, "the plugin exited before its handshake: "+c.stderrTail(), c.exitErr)
	case <-ctx.Done():
		return newError(ErrCodeHandshake, "no handshake line from the plugin in time: "+c.stderrTail(), ctx.Err())
	}
	fields, err := c.parseHandshake(line)
	if err != nil {
		return err
	}
	c.handshake = fields
	network, address := fields[2], fields[3]
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return newError(ErrCodeHandshake, "cannot connect to the plugin at "+address, err)
	}
	// A plugin that chose tcp unasked got no token, and expects none.
	if network == "tcp" && token != "" {
		if err := presentToken(ctx, conn, token, address, c.stderrTail); err != nil {
			conn.Close()
			return err
		}
	}
	hc, err := newHostConn(conn, connOptions{codec: c.codec, version: c.version, maxSize: c.cfg.MaxMessageSize,
		brokerTimeout: c.cfg.BrokerTimeout, log: c.log})
	if err != nil {
		conn.Close()
		return err
	}
	c.conn = hc
	go func() {
		// The plugin exiting ends the connection: pending calls fail at once.
		select {
		case <-c.exited:
			hc.close()
		case <-hc.session.CloseChan():
		}
	}()
	err = hc.controlCall(ctx, methodInit, map[string]any{"config": c.cfg.Config}, nil)
	var re *RemoteError
	if err != nil && !(errors.As(err, &re) && re.RPCCode == CodeMethodNotFound) {
		return fmt.Errorf("plugin init failed: %w", err)
	}
	return nil
}

// parseHandshake validates the line against what the host offered (protocol.md §3).
func (c *Client) parseHandshake(line string) ([]string, error) {
	fail := func(what string) ([]string, error) {
		return nil, newError(ErrCodeHandshake, fmt.Sprintf("invalid handshake line %q: %s; expected CORE|APP|NETWORK|ADDRESS|PROTOCOL with CORE 1, APP one of %v, PROTOCOL jsonrpc+ one of %v",
			line, what, c.versions(), c.codecs()), nil)
	}
	f := strings.Split(line, "|")
	if len(f) == 6 {
		return fail("a TLS certificate: this Go host does not speak TLS")
	}
	if len(f) != 5 {
		return fail(fmt.Sprintf("%d fields", len(f)))
	}
	if f[0] != strconv.Itoa(CoreProtocolVersion) {
		return fail("core version " + f[0])
	}
	v, err := strconv.Atoi(f[1])
	offered := false
	for _, o := range c.versions() {
		offered = offered || (err == nil && o == v)
	}
	if !offered {
		return fail("app version " + f[1] + " was not offered")
	}
	c.version = v
	switch f[2] {
	case "unix":
		if f[3] == "" {
			return fail("an empty address")
		}
	case "tcp":
		host, _, err := net.SplitHostPort(f[3])
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fail("a tcp address that is not loopback")
		}
	default:
		return fail("unknown network " + f[2])
	}
	codec := strings.TrimPrefix(f[4], "jsonrpc+")
	for _, o := range c.codecs() {
		if o == codec && f[4] != codec {
			c.codec = CodecByName(codec)
		}
	}
	if c.codec == nil {
		return fail("protocol " + f[4] + " was not offered")
	}
	return f, nil
}

// readLines reads r line by line, splitting lines longer than maxLogLine.
func readLines(r io.Reader, each func(string)) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			each(strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (c *Client) readStdout(r io.Reader, handshake chan<- string) {
	found := false
	readLines(r, func(line string) {
		if !found {
			if loc := handshakeAttempt.FindStringIndex(line); loc != nil {
				found = true
				if loc[0] > 0 {
					c.log.Info("plugin output", "line", line[:loc[0]])
				}
				handshake <- line[loc[0]:]
				return
			}
		}
		c.log.Info("plugin output", "line", line)
	})
}

// readStderr turns hclog JSON lines into records, anything else into info text (§10).
func (c *Client) readStderr(r io.Reader) {
	readLines(r, func(line string) {
		c.stderrMu.Lock()
		c.stderr = append(c.stderr, line)
		if len(c.stderr) > stderrTailLines {
			c.stderr = c.stderr[1:]
		}
		c.stderrMu.Unlock()
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			level, okLevel := rec["@level"].(string)
			msg, okMsg := rec["@message"].(string)
			if okLevel && okMsg {
				args := []any{}
				for k, v := range rec {
					if !strings.HasPrefix(k, "@") {
						args = append(args, k, v)
					}
				}
				if m, ok := rec["@module"].(string); ok {
					args = append(args, "module", m)
				}
				c.log.Log(hclog.LevelFromString(level), msg, args...)
				return
			}
		}
		c.log.Info(line)
	})
}

func (c *Client) stderrTail() string {
	c.stderrMu.Lock()
	defer c.stderrMu.Unlock()
	if len(c.stderr) == 0 {
		return "(no stderr)"
	}
	return "stderr: " + strings.Join(c.stderr, "\n")
}

// Dispense starts the plugin if needed and returns plugin name's remote (the same one on
// every call): call its methods with Call.
func (c *Client) Dispense(name string) (*Remote, error) {
	return c.DispenseContext(context.Background(), name)
}

// DispenseContext is Dispense with a context for the start and the dispense.
func (c *Client) DispenseContext(ctx context.Context, name string) (*Remote, error) {
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.dispensed[name]; ok {
		return r, nil
	}
	r, err := c.conn.dispense(ctx, name)
	if err != nil {
		return nil, err
	}
	c.dispensed[name] = r
	return r, nil
}

// Ping checks that the plugin answers on its control channel.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	return c.conn.controlCall(ctx, methodPing, map[string]any{}, nil)
}

// Codec is the negotiated codec's name ("" before the start).
func (c *Client) Codec() string {
	if c.codec == nil {
		return ""
	}
	return c.codec.Name()
}

// Network is the network the plugin announced in its handshake, "unix" or "tcp" ("" before
// the start).
func (c *Client) Network() string {
	if len(c.handshake) < 3 {
		return ""
	}
	return c.handshake[2]
}

// ProtocolVersion is the negotiated application protocol version.
func (c *Client) ProtocolVersion() int { return c.version }

// Exited is closed when the plugin process has exited.
func (c *Client) Exited() <-chan struct{} { return c.exited }

// ExitCode is the plugin's exit status once it exited: its code, or -1 when killed by a
// signal.
func (c *Client) ExitCode() int {
	select {
	case <-c.exited:
	default:
		return -1
	}
	if c.exitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(c.exitErr, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Kill stops the plugin (protocol.md §9): plugwire/quit, then stdin closed once quit was
// answered (or failed), then SIGKILL to its process group if it has not exited within
// KillGrace. It returns when the process has exited and its socket directory is gone.
func (c *Client) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killLocked()
}

func (c *Client) killLocked() {
	c.killOnce.Do(func() {
		cmd := c.cfg.Cmd
		if cmd == nil || cmd.Process == nil {
			return
		}
		grace := c.cfg.KillGrace
		if grace <= 0 {
			grace = 2 * time.Second
		}
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
		if c.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			err := c.conn.controlCall(ctx, methodQuit, map[string]any{}, nil)
			cancel()
			c.log.Debug("plugwire/quit", "answered", err == nil, "error", err)
		}
		if c.stdin != nil {
			c.stdin.Close()
		}
		select {
		case <-c.exited:
		case <-deadline.C:
			c.log.Debug("the plugin did not exit in time: SIGKILL", "grace", grace)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
		if c.conn != nil {
			c.conn.close()
		}
		// A plugin killed before it could clean up leaves its socket directory behind.
		if len(c.handshake) == 5 && c.handshake[2] == "unix" {
			dir := filepath.Dir(c.handshake[3])
			if strings.HasPrefix(filepath.Base(dir), "plugwire-") {
				os.RemoveAll(dir)
			}
		}
	})
}
