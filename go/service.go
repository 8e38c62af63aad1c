package plugwire

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"unicode"
)

var (
	contextType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errorType   = reflect.TypeOf((*error)(nil)).Elem()
)

// service is what a Go value serves: its exported methods of a usable shape, by wire name.
type service struct {
	methods map[string]*method
	names   []string
}

// method is one callable: a bound method or a func.
type method struct {
	name     string
	fn       reflect.Value
	ctx      bool           // takes a context.Context first
	in       []reflect.Type // the other parameters
	variadic bool
	value    bool // returns a value
	err      bool // returns an error (last)
}

// WireName is the name a Go method travels under: its first letter (or leading
// abbreviation) in lower case, as TypeScript names methods: Put → put, GetUser → getUser,
// ID → id, HTTPGet → httpGet.
func WireName(goName string) string {
	r := []rune(goName)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	switch {
	case n == 0:
		return goName
	case n == 1 || n == len(r):
		// Put → put, ID → id
	default:
		n-- // HTTPGet → httpGet: the last capital starts the next word
	}
	for i := 0; i < n; i++ {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// methodOf checks that fn (a func value) has a shape plugwire can call: an optional
// context.Context first, and as results nothing, a value, an error, or a value and an error.
func methodOf(name string, fn reflect.Value) (*method, error) {
	t := fn.Type()
	m := &method{name: name, fn: fn, variadic: t.IsVariadic()}
	for i := 0; i < t.NumIn(); i++ {
		p := t.In(i)
		if i == 0 && p == contextType {
			m.ctx = true
			continue
		}
		m.in = append(m.in, p)
	}
	switch t.NumOut() {
	case 0:
	case 1:
		if t.Out(0) == errorType {
			m.err = true
		} else {
			m.value = true
		}
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("%s: a second result must be an error", name)
		}
		m.value, m.err = true, true
	default:
		return nil, fmt.Errorf("%s: returns %d values (at most a value and an error)", name, t.NumOut())
	}
	return m, nil
}

// newService collects the exported methods of v (of its pointer type too, when v is
// addressable through a pointer). Methods of another shape are skipped.
func newService(v any) (*service, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, fmt.Errorf("cannot serve nil")
	}
	s := &service{methods: map[string]*method{}}
	t := rv.Type()
	for i := 0; i < t.NumMethod(); i++ {
		mt := t.Method(i)
		if !mt.IsExported() {
			continue
		}
		wn := WireName(mt.Name)
		m, err := methodOf(wn, rv.Method(i))
		if err != nil {
			continue
		}
		s.methods[wn] = m
		s.names = append(s.names, wn)
	}
	sort.Strings(s.names)
	if len(s.names) == 0 {
		return nil, fmt.Errorf("%s has no exported methods plugwire can serve", t)
	}
	return s, nil
}

// funcService serves one func as the method "call" (a callback, protocol.md §13.2).
func funcService(fn reflect.Value) (*service, error) {
	m, err := methodOf("call", fn)
	if err != nil {
		return nil, err
	}
	return &service{methods: map[string]*method{"call": m}, names: []string{"call"}}, nil
}

// lookup finds a method by wire name, or by its Go name.
func (s *service) lookup(name string) *method {
	if m, ok := s.methods[name]; ok {
		return m
	}
	if name != "" && unicode.IsUpper([]rune(name)[0]) {
		return s.methods[WireName(name)]
	}
	return nil
}

// handler serves the service's methods on a peer.
func (s *service) handler(w *wire) handlerFunc {
	return func(ctx context.Context, name string, params []byte) (any, error) {
		m := s.lookup(name)
		if m == nil {
			return nil, errMethodNotFound
		}
		return w.invoke(ctx, m, params)
	}
}

// invoke decodes the positional params into m's parameter types, calls it, and returns its
// result marshalled (a marker for a func, an io.Reader…).
func (w *wire) invoke(ctx context.Context, m *method, params []byte) (any, error) {
	raws, isArray, err := w.codec.split(params)
	if err != nil {
		return nil, &RPCError{Code: CodeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	if !isArray {
		if params == nil {
			raws = nil
		} else {
			raws = [][]byte{params} // by-name params: one argument, as the TypeScript sdk does
		}
	}
	if !m.variadic && len(raws) > len(m.in) {
		return nil, &RPCError{Code: CodeInvalidParams,
			Message: fmt.Sprintf("%s takes %d arguments, got %d", m.name, len(m.in), len(raws))}
	}
	args := make([]reflect.Value, 0, len(m.in)+1)
	if m.ctx {
		args = append(args, reflect.ValueOf(ctx))
	}
	for i, p := range m.in {
		if m.variadic && i == len(m.in)-1 {
			for j := i; j < len(raws); j++ {
				v, err := w.decodeArg(ctx, raws[j], p.Elem())
				if err != nil {
					return nil, &RPCError{Code: CodeInvalidParams, Message: fmt.Sprintf("argument %d of %s: %v", j+1, m.name, err)}
				}
				args = append(args, v)
			}
			break
		}
		if i >= len(raws) {
			args = append(args, reflect.Zero(p)) // a missing argument is the zero value (JavaScript's undefined)
			continue
		}
		v, err := w.decodeArg(ctx, raws[i], p)
		if err != nil {
			return nil, &RPCError{Code: CodeInvalidParams, Message: fmt.Sprintf("argument %d of %s: %v", i+1, m.name, err)}
		}
		args = append(args, v)
	}
	out := m.fn.Call(args)
	if m.err {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if !m.value {
		return nil, nil // a void method answers null
	}
	result, err := w.marshal(out[0].Interface(), nil)
	if err != nil {
		return nil, &RPCError{Code: CodeInternalError, Message: fmt.Sprintf("the result of %s cannot be sent: %v", m.name, err)}
	}
	return result, nil
}
