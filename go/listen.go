package plugwire

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// maxUnixPathLen is what sockaddr_un holds on macOS/BSD (104 with the NUL; 108 on Linux).
const maxUnixPathLen = 103

type listener struct {
	ln      net.Listener
	network string
	address string
	dir     string // the socket directory, removed on exit ("" for tcp)
}

func (l *listener) close() {
	if ul, ok := l.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the directory goes as a whole below
	}
	l.ln.Close()
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// listen listens as protocol.md §3 says: a private unix socket, or loopback tcp.
func listen() (*listener, error) {
	switch network := os.Getenv("PLUGWIRE_NETWORK"); network {
	case "", "unix":
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
	l := &listener{ln: ln, network: "unix", address: path, dir: dir}
	if err := os.Chmod(path, sockMode); err != nil {
		l.close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			l.close()
			return nil, err
		}
		if err := os.Chown(path, -1, gid); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
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
