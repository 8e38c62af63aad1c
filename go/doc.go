// Package plugwire writes plugwire plugins and hosts in Go.
//
// plugwire is a plugin framework in the style of HashiCorp's go-plugin whose wire
// protocol (docs/protocol.md) is JSON-RPC 2.0 (json or msgpack) over yamux streams, so
// plugins and hosts in Go, TypeScript and Python work together.
//
// A plugin serves the exported methods of Go values, as net/rpc does:
//
//	type Greeter struct{}
//
//	func (Greeter) Greet(ctx context.Context, name string) (string, error) {
//		return "hello " + name, nil
//	}
//
//	func main() {
//		plugwire.Serve(&plugwire.ServeConfig{Plugins: map[string]any{"greeter": Greeter{}}})
//	}
//
// Method names travel with their first letter lower-cased ("Greet" is "greet" on the
// wire), the names a TypeScript interface has. A method may take a context.Context first
// (cancelled when the caller cancels, or the connection ends) and returns nothing, a value,
// an error, or a value and an error.
//
// A host starts a plugin and calls it:
//
//	client := plugwire.NewClient(&plugwire.ClientConfig{Cmd: exec.Command("./greeter")})
//	defer client.Kill()
//	greeter, err := client.Dispense("greeter")
//	var s string
//	err = greeter.Call(ctx, "greet", "world", &s)
//
// Values that cannot travel as data travel on broker streams (protocol.md §13): a Go func
// argument becomes a callback the other side can call, Object(v) an object whose methods it
// can call, an io.Reader a byte stream, a channel an object stream. Received, they are a
// func of the parameter's type, a *Remote, an io.ReadCloser and an *Items.
package plugwire
