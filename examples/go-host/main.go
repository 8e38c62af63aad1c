// Command go-host is a plugwire host written in Go with the Go sdk (../../go): it starts
// one of the TypeScript examples and uses it.
//
//	go-host put <key> <value> -- <kv plugin command…>        examples/kv
//	go-host get <key> -- <kv plugin command…>
//	go-host keys -- <kv plugin command…>
//	go-host count <key> <n>… -- <counter plugin command…>    examples/bidirectional: a Go
//	                                                         object the plugin calls back
//	go-host stream <size> -- <generator plugin command…>     examples/streaming: byte and
//	                                                         object streams both ways
//
// For example, from the repository root after `pnpm build`:
//
//	go-host put hello world -- node examples/dist/kv/plugin.js
//	go-host get hello -- node examples/dist/kv/plugin.js
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	plugwire "github.com/plugwire/plugwire/go"
)

func main() {
	args, command := splitArgs(os.Args[1:])
	if len(args) == 0 || len(command) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go-host put <key> <value> | get <key> | keys -- <plugin command…>")
		os.Exit(2)
	}
	codecs := []string{"msgpack", "json"}
	if c := os.Getenv("GO_HOST_CODEC"); c != "" {
		codecs = []string{c}
	}
	client := plugwire.NewClient(&plugwire.ClientConfig{
		Cmd:    exec.Command(command[0], command[1:]...),
		Codecs: codecs,
		// GO_HOST_NETWORK=tcp: loopback tcp, authenticated with the start's token.
		Network: os.Getenv("GO_HOST_NETWORK"),
		// The plugin's log records, as text on our stderr.
		Logger: hclog.New(&hclog.LoggerOptions{Name: "kv", Output: os.Stderr,
			Level: hclog.LevelFromString(os.Getenv("GO_HOST_LOG"))}),
	})
	var code int
	switch args[0] {
	case "count":
		code = runCounter(client, args[1:])
	case "stream":
		code = runStream(client, args[1:])
	default:
		code = runKV(client, args)
	}
	client.Kill()
	// How the plugin stopped: 0 after plugwire/quit (a clean stop).
	fmt.Printf("{\"pluginExit\":%d}\n", client.ExitCode())
	os.Exit(code)
}

func runKV(client *plugwire.Client, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := client.DispenseContext(ctx, "kv")
	if err != nil {
		return fail(err)
	}
	var out any
	switch {
	case args[0] == "put" && len(args) == 3:
		// put(key: string, value: Uint8Array): []byte travels as binary (bin, or {"$bytes"})
		err = kv.Call(ctx, "put", args[1], []byte(args[2]), nil)
		out = map[string]any{"put": args[1], "codec": client.Codec(), "network": client.Network()}
	case args[0] == "get" && len(args) == 2:
		var v []byte // get(key): Uint8Array | null
		err = kv.Call(ctx, "get", args[1], &v)
		if v == nil {
			out = map[string]any{"key": args[1], "value": nil}
		} else {
			out = map[string]any{"key": args[1], "value": string(v)}
		}
	case args[0] == "keys" && len(args) == 1:
		var keys []string
		err = kv.Call(ctx, "keys", &keys)
		out = map[string]any{"keys": keys}
	default:
		var v any
		err = kv.Call(ctx, args[0], toAny(args[1:])...)
		out = v
	}
	if err != nil {
		return fail(err)
	}
	return print(out)
}

// adder is the host's helper that the counter plugin calls back (go-plugin's bidirectional
// example): an object whose methods the plugin calls during put.
type adder struct{ calls int }

func (a *adder) Sum(x, y float64) float64 {
	a.calls++
	return x + y
}

func runCounter(client *plugwire.Client, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	counter, err := client.DispenseContext(ctx, "counter")
	if err != nil {
		return fail(err)
	}
	helper := &adder{}
	for _, n := range args[1:] {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return fail(err)
		}
		// put(key, value, helper: AddHelper): the plugin calls helper.sum(old, value) back.
		if err := counter.Call(ctx, "put", args[0], v, plugwire.Object(helper), nil); err != nil {
			return fail(err)
		}
	}
	var total float64
	if err := counter.Call(ctx, "get", args[0], &total); err != nil {
		return fail(err)
	}
	return print(map[string]any{"key": args[0], "value": total, "helperCalls": helper.calls})
}

func runStream(client *plugwire.Client, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gen, err := client.DispenseContext(ctx, "generator")
	if err != nil {
		return fail(err)
	}
	size, _ := strconv.Atoi(args[0])
	// bytes(size, seed): a byte stream from the plugin, read as an io.ReadCloser.
	var r io.ReadCloser
	if err := gen.Call(ctx, "bytes", size, 1, &r); err != nil {
		return fail(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return fail(err)
	}
	// digest(stream): our io.Reader becomes a byte stream the plugin reads.
	var digest struct {
		Bytes  int    `json:"bytes"`
		Sha256 string `json:"sha256"`
	}
	if err := gen.Call(ctx, "digest", bytes.NewReader(data), &digest); err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(data)
	// records(count): an object stream, read with Items.Next.
	var items *plugwire.Items
	if err := gen.Call(ctx, "records", 3, &items); err != nil {
		return fail(err)
	}
	var names []string
	for {
		var rec struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		}
		ok, err := items.Next(ctx, &rec)
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
		names = append(names, rec.Name)
	}
	return print(map[string]any{"received": len(data), "pluginDigest": digest,
		"sameDigest": digest.Sha256 == hex.EncodeToString(sum[:]), "records": names})
}

func print(v any) int {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
	return 0
}

func toAny(ss []string) []any {
	out := make([]any, 0, len(ss)+1)
	for _, s := range ss {
		out = append(out, s)
	}
	return append(out, nil)
}

// fail prints the error as one JSON line, with its codes, and returns 1.
func fail(err error) int {
	rec := map[string]any{"error": err.Error(), "code": plugwire.Code(err)}
	if re, ok := err.(*plugwire.RemoteError); ok {
		rec["rpcCode"], rec["remoteCode"], rec["data"] = re.RPCCode, re.Code, re.Data
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
	return 1
}

func splitArgs(all []string) ([]string, []string) {
	for i, a := range all {
		if a == "--" {
			return all[:i], all[i+1:]
		}
	}
	return all, nil
}
