// Command go-host is a plugwire host written in Go with the Go sdk (../../go): it starts
// the TypeScript kv example (examples/kv, or any plugin that serves "kv") and uses it.
//
//	go-host put <key> <value> -- <plugin command…>
//	go-host get <key> -- <plugin command…>
//	go-host keys -- <plugin command…>
//
// For example, from the repository root after `pnpm build`:
//
//	go-host put hello world -- node examples/dist/kv/plugin.js
//	go-host get hello -- node examples/dist/kv/plugin.js
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
		// The plugin's log records, as text on our stderr.
		Logger: hclog.New(&hclog.LoggerOptions{Name: "kv", Output: os.Stderr, Level: hclog.Info}),
	})
	code := run(client, args)
	client.Kill()
	os.Exit(code)
}

func run(client *plugwire.Client, args []string) int {
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
		out = map[string]any{"put": args[1], "codec": client.Codec()}
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
	b, _ := json.Marshal(out)
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
