// Command benchgo is the go-plugin contender of plugwire's benchmarks (bench/run.ts): a
// HashiCorp go-plugin host and plugin, both in Go, using go-plugin's net/rpc protocol and
// its MuxBroker for the bulk transfer.
//
//	benchgo -mode=plugin   the plugin (started by the host through go-plugin)
//	benchgo -mode=host     the benchmark driver: reads one JSON command per line on stdin,
//	                       answers one JSON result per line on stdout
//
// The driver runs the same workload as bench/driver.ts does for the Node contenders, and
// times it itself, so the orchestrator's own messages are never timed.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net/rpc"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGWIRE_BENCH_GO",
	MagicCookieValue: "5b0f3c1e-bench",
}

// ---- the plugin interface -----------------------------------------------------------------

// BulkArgs asks the plugin to send Size bytes in Chunk-byte writes on a broker stream.
type BulkArgs struct {
	Size  int64
	Chunk int
}

// CalcServer is the net/rpc server the plugin serves.
type CalcServer struct {
	broker *plugin.MuxBroker
	block  []byte
}

// Add returns a + b.
func (s *CalcServer) Add(args [2]int, reply *int) error {
	*reply = args[0] + args[1]
	return nil
}

// Echo returns its argument.
func (s *CalcServer) Echo(args []byte, reply *[]byte) error {
	*reply = args
	return nil
}

// Bulk reserves a broker id, answers it, and writes the bytes once the host dials it.
func (s *CalcServer) Bulk(args BulkArgs, reply *uint32) error {
	id := s.broker.NextId()
	go func() {
		conn, err := s.broker.Accept(id)
		if err != nil {
			return
		}
		defer conn.Close()
		var sent int64
		for sent < args.Size {
			off := int(sent % int64(len(s.block)))
			n := args.Chunk
			if off+n > len(s.block) {
				n = len(s.block) - off
			}
			if int64(n) > args.Size-sent {
				n = int(args.Size - sent)
			}
			if _, err := conn.Write(s.block[off : off+n]); err != nil {
				return
			}
			sent += int64(n)
		}
	}()
	*reply = id
	return nil
}

// CalcClient is what the host's Dispense returns.
type CalcClient struct {
	client *rpc.Client
	broker *plugin.MuxBroker
}

func (c *CalcClient) Add(a, b int) (int, error) {
	var r int
	err := c.client.Call("Plugin.Add", [2]int{a, b}, &r)
	return r, err
}

func (c *CalcClient) Echo(b []byte) ([]byte, error) {
	var r []byte
	err := c.client.Call("Plugin.Echo", b, &r)
	return r, err
}

// Bulk reads the plugin's bytes to the end and returns how many arrived.
func (c *CalcClient) Bulk(size int64, chunk int) (int64, error) {
	var id uint32
	if err := c.client.Call("Plugin.Bulk", BulkArgs{Size: size, Chunk: chunk}, &id); err != nil {
		return 0, err
	}
	conn, err := c.broker.Dial(id)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	buf := make([]byte, 64*1024)
	var n int64
	for {
		k, err := conn.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// CalcPlugin is the go-plugin Plugin (net/rpc flavour).
type CalcPlugin struct{}

func (CalcPlugin) Server(b *plugin.MuxBroker) (interface{}, error) {
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		return nil, err
	}
	return &CalcServer{broker: b, block: block}, nil
}

func (CalcPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &CalcClient{client: c, broker: b}, nil
}

var plugins = map[string]plugin.Plugin{"calc": CalcPlugin{}}

// ---- the host driver --------------------------------------------------------------------

type command struct {
	Op     string `json:"op"`
	N      int    `json:"n"`
	Window int    `json:"window"`
	Size   int64  `json:"size"`
	Chunk  int    `json:"chunk"`
	Warm   *warm  `json:"warm"`
}

// warm is the warm-up of "start": the same work the Node drivers do before anything is
// timed, so that every contender is measured warm.
type warm struct {
	Serial  int   `json:"serial"`
	Conc    int   `json:"conc"`
	Payload int   `json:"payload"`
	Bulk    int64 `json:"bulk"`
}

type host struct {
	exe    string
	quiet  hclog.Logger
	client *plugin.Client
	calc   *CalcClient
	pid    int
}

func (h *host) newClient() *plugin.Client {
	return plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         plugins,
		Cmd:             exec.Command(h.exe, "-mode=plugin"),
		Logger:          h.quiet,
		Managed:         true,
	})
}

// launch starts a plugin and makes its first call: spawn → handshake → connect → add(1,2).
func (h *host) launch() (*plugin.Client, *CalcClient, int, error) {
	client := h.newClient()
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, 0, err
	}
	raw, err := rpcClient.Dispense("calc")
	if err != nil {
		client.Kill()
		return nil, nil, 0, err
	}
	calc := raw.(*CalcClient)
	r, err := calc.Add(1, 2)
	if err == nil && r != 3 {
		err = fmt.Errorf("add(1, 2) = %d", r)
	}
	if err != nil {
		client.Kill()
		return nil, nil, 0, err
	}
	return client, calc, client.ReattachConfig().Pid, nil
}

// rssMiB reads VmRSS of a process from /proc.
func rssMiB(pid int) float64 {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// cpuMs is the CPU time (user+sys) of a process so far, from /proc/<pid>/stat.
func cpuMs(pid int) float64 {
	b, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) * 10 // clock ticks of 10 ms (USER_HZ = 100 on Linux)
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func percentile(sorted []time.Duration, p float64) float64 {
	i := int(p / 100 * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i].Nanoseconds()) / 1e3
}

func (h *host) run(c command) (map[string]interface{}, error) {
	switch c.Op {
	case "startup":
		var startup, rss []float64
		for i := 0; i < c.N; i++ {
			t := time.Now()
			client, _, pid, err := h.launch()
			if err != nil {
				return nil, err
			}
			startup = append(startup, ms(time.Since(t)))
			rss = append(rss, rssMiB(pid))
			client.Kill()
		}
		return map[string]interface{}{"startup_ms": startup, "rss_mib": rss}, nil
	case "start":
		client, calc, pid, err := h.launch()
		if err != nil {
			return nil, err
		}
		h.client, h.calc, h.pid = client, calc, pid
		if w := c.Warm; w != nil {
			for _, step := range []command{
				{Op: "serial", N: w.Serial},
				{Op: "conc", N: w.Conc, Window: 64},
				{Op: "payload", N: w.Payload, Size: 1 << 20},
				{Op: "bulk", Size: w.Bulk, Chunk: 64 << 10},
			} {
				if step.N == 0 && step.Size == 0 {
					continue
				}
				if _, err := h.run(step); err != nil {
					return nil, fmt.Errorf("warm-up %s: %v", step.Op, err)
				}
			}
		}
		return map[string]interface{}{"pid": pid}, nil
	case "serial":
		lat := make([]time.Duration, c.N)
		cpu0, pcpu0 := cpuMs(os.Getpid()), cpuMs(h.pid)
		t0 := time.Now()
		for i := 0; i < c.N; i++ {
			t := time.Now()
			r, err := h.calc.Add(i, 1)
			lat[i] = time.Since(t)
			if err != nil {
				return nil, err
			}
			if r != i+1 {
				return nil, fmt.Errorf("add(%d, 1) = %d", i, r)
			}
		}
		el := time.Since(t0)
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		return map[string]interface{}{
			"cps": float64(c.N) / el.Seconds(), "p50_us": percentile(lat, 50),
			"p99_us": percentile(lat, 99), "host_cpu_ms": cpuMs(os.Getpid()) - cpu0,
			"plugin_cpu_ms": cpuMs(h.pid) - pcpu0,
		}, nil
	case "conc":
		var issued int64 = -1
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		cpu0, pcpu0 := cpuMs(os.Getpid()), cpuMs(h.pid)
		t0 := time.Now()
		for w := 0; w < c.Window; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(atomic.AddInt64(&issued, 1))
					if i >= c.N {
						return
					}
					r, err := h.calc.Add(i, 2)
					if err == nil && r != i+2 {
						err = fmt.Errorf("add(%d, 2) = %d", i, r)
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(t0)
		if firstErr != nil {
			return nil, firstErr
		}
		return map[string]interface{}{
			"cps": float64(c.N) / el.Seconds(), "host_cpu_ms": cpuMs(os.Getpid()) - cpu0,
			"plugin_cpu_ms": cpuMs(h.pid) - pcpu0,
		}, nil
	case "payload":
		data := make([]byte, c.Size)
		if _, err := rand.Read(data); err != nil {
			return nil, err
		}
		cpu0, pcpu0 := cpuMs(os.Getpid()), cpuMs(h.pid)
		t0 := time.Now()
		for i := 0; i < c.N; i++ {
			back, err := h.calc.Echo(data)
			if err != nil {
				return nil, err
			}
			if len(back) != len(data) || back[12345] != data[12345] {
				return nil, errors.New("bad echo")
			}
		}
		el := time.Since(t0)
		return map[string]interface{}{
			"mbs":         float64(c.N) * float64(c.Size) / (1 << 20) / el.Seconds(),
			"host_cpu_ms": cpuMs(os.Getpid()) - cpu0, "plugin_cpu_ms": cpuMs(h.pid) - pcpu0,
		}, nil
	case "bulk":
		cpu0, pcpu0 := cpuMs(os.Getpid()), cpuMs(h.pid)
		t0 := time.Now()
		n, err := h.calc.Bulk(c.Size, c.Chunk)
		el := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if n != c.Size {
			return nil, fmt.Errorf("bulk: %d bytes arrived, %d expected", n, c.Size)
		}
		return map[string]interface{}{
			"mbs": float64(n) / (1 << 20) / el.Seconds(), "host_cpu_ms": cpuMs(os.Getpid()) - cpu0,
			"plugin_cpu_ms": cpuMs(h.pid) - pcpu0,
		}, nil
	case "many":
		// c.N plugins started at once by this host; all must answer add(1,2).
		rss0 := rssMiB(os.Getpid())
		t0 := time.Now()
		clients := make([]*plugin.Client, c.N)
		pids := make([]int, c.N)
		errs := make([]error, c.N)
		var wg sync.WaitGroup
		for i := 0; i < c.N; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				clients[i], _, pids[i], errs[i] = h.launch()
			}(i)
		}
		wg.Wait()
		el := time.Since(t0)
		total := 0.0
		for i := range pids {
			if errs[i] == nil {
				total += rssMiB(pids[i])
			}
		}
		hostRss := rssMiB(os.Getpid())
		for _, cl := range clients {
			if cl != nil {
				wg.Add(1)
				go func(cl *plugin.Client) {
					defer wg.Done()
					cl.Kill()
				}(cl)
			}
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		return map[string]interface{}{
			"total_ms": ms(el), "plugins_rss_mib": total, "host_rss_mib": hostRss,
			"host_rss_growth_mib": hostRss - rss0,
		}, nil
	case "stop":
		if h.client != nil {
			h.client.Kill()
			h.client = nil
		}
		return map[string]interface{}{}, nil
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func hostMain() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := &host{exe: exe, quiet: hclog.New(&hclog.LoggerOptions{Output: ioutil.Discard})}
	defer plugin.CleanupClients()
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			out.Encode(map[string]string{"error": err.Error()})
			continue
		}
		res, err := h.run(c)
		if err != nil {
			out.Encode(map[string]string{"error": err.Error()})
			continue
		}
		out.Encode(res)
		if c.Op == "stop" {
			return
		}
	}
	// stdin closed: the orchestrator is gone.
	if h.client != nil {
		h.client.Kill()
	}
}

func main() {
	mode := flag.String("mode", "", "plugin or host")
	flag.Parse()
	switch *mode {
	case "plugin":
		// The plugin's own log lines would reach the host's (silent) logger anyway.
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: handshake, Plugins: plugins})
	case "host":
		hostMain()
	default:
		fmt.Fprintln(os.Stderr, "usage: benchgo -mode=host|plugin")
		os.Exit(2)
	}
}
