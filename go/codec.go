package plugwire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// A Codec encodes messages: "json" or "msgpack" (protocol.md §8). Values are encoded with
// encoding/json's rules and struct tags in both (msgpack reads the `json` tags too), and
// []byte travels as binary: msgpack bin, or {"$bytes": base64} in json.
type Codec interface {
	// Name is the codec's name in PLUGWIRE_CODECS and the handshake line.
	Name() string
	// Encode encodes one value.
	Encode(v any) ([]byte, error)
	// Decode decodes one encoded value into v (a pointer).
	Decode(raw []byte, v any) error

	message(fields []field) []byte
	parseMessage(b []byte) (map[string][]byte, error)
	parseBatch(b []byte) ([][]byte, bool, error)
	split(raw []byte) ([][]byte, bool, error)
	isNull(raw []byte) bool
	null() []byte
}

type field struct {
	key string
	raw []byte
}

// CodecByName returns the "json" or "msgpack" codec, or nil.
func CodecByName(name string) Codec {
	switch name {
	case "json":
		return JSON
	case "msgpack":
		return Msgpack
	}
	return nil
}

// JSON is the json codec.
var JSON Codec = jsonCodec{}

// Msgpack is the msgpack codec.
var Msgpack Codec = msgpackCodec{}

// Nested containers deeper than this are refused, before decoding (a hostile message of
// nested one-element arrays would otherwise recurse until the stack is exhausted).
const maxDepth = 1000

// ---- json ----------------------------------------------------------------------------

type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Encode(v any) ([]byte, error) {
	if raw, ok := v.(rawValue); ok {
		return raw, nil
	}
	if v != nil && !hasBytes(reflect.TypeOf(v), 0) {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, newError(ErrCodeCodec, "cannot encode as json", err)
		}
		return b, nil
	}
	tree, err := jsonTree(reflect.ValueOf(v), 0)
	if err != nil {
		return nil, newError(ErrCodeCodec, "cannot encode as json", err)
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, newError(ErrCodeCodec, "cannot encode as json", err)
	}
	return b, nil
}

func (c jsonCodec) Decode(raw []byte, v any) error {
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if p, ok := v.(*rawValue); ok {
		*p = append(rawValue(nil), raw...)
		return nil
	}
	if !bytes.Contains(raw, []byte(`"$bytes"`)) {
		if err := json.Unmarshal(raw, v); err != nil {
			return newError(ErrCodeCodec, "cannot decode json", err)
		}
		return nil
	}
	// {"$bytes": b64} forms: []byte where the target is an interface (any), and the base64
	// string elsewhere, which encoding/json decodes into a []byte field.
	var tree any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return newError(ErrCodeCodec, "cannot decode json", err)
	}
	if p, ok := v.(*any); ok {
		*p = reviveJSON(tree, true)
		return nil
	}
	b, err := json.Marshal(reviveJSON(tree, false))
	if err != nil {
		return newError(ErrCodeCodec, "cannot decode json", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return newError(ErrCodeCodec, "cannot decode json", err)
	}
	return nil
}

// reviveJSON replaces {"$bytes": s} by []byte (asBytes) or by s, and json.Number by float64
// for an interface target.
func reviveJSON(v any, asBytes bool) any {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["$bytes"].(string); ok && len(x) == 1 {
			if !asBytes {
				return s
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return x
			}
			return b
		}
		for k, e := range x {
			x[k] = reviveJSON(e, asBytes)
		}
	case []any:
		for i, e := range x {
			x[i] = reviveJSON(e, asBytes)
		}
	case json.Number:
		if asBytes {
			f, _ := x.Float64()
			return f
		}
	}
	return v
}

func (jsonCodec) message(fields []field) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(f.key)
		b.WriteString(`":`)
		b.Write(f.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (jsonCodec) parseMessage(b []byte) (map[string][]byte, error) {
	if err := jsonDepthOK(b); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

func (jsonCodec) parseBatch(b []byte) ([][]byte, bool, error) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '[' {
		return nil, false, nil
	}
	if err := jsonDepthOK(b); err != nil {
		return nil, true, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, true, err
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out, true, nil
}

func (jsonCodec) split(raw []byte) ([][]byte, bool, error) {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 || t[0] != '[' {
		return nil, false, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, true, err
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out, true, nil
}

func (jsonCodec) isNull(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func (jsonCodec) null() []byte { return []byte("null") }

// jsonDepthOK refuses nesting deeper than maxDepth (strings are skipped).
func jsonDepthOK(b []byte) error {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("nested deeper than %d", maxDepth)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// hasBytes reports whether values of t can hold a []byte (or an interface, which might).
func hasBytes(t reflect.Type, depth int) bool {
	if depth > 32 {
		return true
	}
	if t.Implements(jsonMarshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Ptr:
		return hasBytes(t.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return true
		}
		return hasBytes(t.Elem(), depth+1)
	case reflect.Map:
		return hasBytes(t.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() && hasBytes(f.Type, depth+1) {
				return true
			}
		}
	}
	return false
}

var jsonMarshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

// jsonTree converts v for encoding/json with []byte as {"$bytes": base64}, following
// encoding/json's struct tags.
func jsonTree(v reflect.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d (a cycle?)", maxDepth)
	}
	if !v.IsValid() {
		return nil, nil
	}
	if v.Type().Implements(jsonMarshalerType) {
		if (v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface) && v.IsNil() {
			return nil, nil
		}
		b, err := v.Interface().(json.Marshaler).MarshalJSON()
		return json.RawMessage(b), err
	}
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return jsonTree(v.Elem(), depth+1)
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return map[string]string{"$bytes": base64.StdEncoding.EncodeToString(v.Bytes())}, nil
		}
		fallthrough
	case reflect.Array:
		if v.Kind() == reflect.Array && v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return map[string]string{"$bytes": base64.StdEncoding.EncodeToString(b)}, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := jsonTree(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			var key string
			if k.Kind() == reflect.String {
				key = k.String()
			} else {
				key = fmt.Sprint(k.Interface())
			}
			e, err := jsonTree(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = e
		}
		return out, nil
	case reflect.Struct:
		out := map[string]any{}
		if err := structFields(v, out, depth); err != nil {
			return nil, err
		}
		return out, nil
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return nil, fmt.Errorf("a %s cannot be encoded", v.Type())
	}
	return v.Interface(), nil
}

func structFields(v reflect.Value, out map[string]any, depth int) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Ptr {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := structFields(fv, out, depth+1); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		e, err := jsonTree(fv, depth+1)
		if err != nil {
			return err
		}
		out[name] = e
	}
	return nil
}

// ---- msgpack -------------------------------------------------------------------------

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }

func (msgpackCodec) Encode(v any) ([]byte, error) {
	if raw, ok := v.(rawValue); ok {
		return raw, nil
	}
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, newError(ErrCodeCodec, "cannot encode as msgpack", err)
	}
	return b.Bytes(), nil
}

func (msgpackCodec) Decode(raw []byte, v any) error {
	if len(raw) == 0 {
		raw = []byte{0xc0}
	}
	if p, ok := v.(*rawValue); ok {
		*p = append(rawValue(nil), raw...)
		return nil
	}
	if err := msgpackDepthOK(raw); err != nil {
		return newError(ErrCodeCodec, "cannot decode msgpack", err)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	dec.SetCustomStructTag("json")
	if err := dec.Decode(v); err != nil {
		return newError(ErrCodeCodec, "cannot decode msgpack", err)
	}
	return nil
}

func (msgpackCodec) message(fields []field) []byte {
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	_ = enc.EncodeMapLen(len(fields))
	for _, f := range fields {
		_ = enc.EncodeString(f.key)
		b.Write(f.raw)
	}
	return b.Bytes()
}

func (msgpackCodec) parseMessage(b []byte) (map[string][]byte, error) {
	if err := msgpackDepthOK(b); err != nil {
		return nil, err
	}
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	n, err := dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("a message must be a map, not nil")
	}
	out := make(map[string][]byte, min(n, 16))
	for i := 0; i < n; i++ {
		k, err := dec.DecodeString()
		if err != nil {
			return nil, err
		}
		raw, err := dec.DecodeRaw()
		if err != nil {
			return nil, err
		}
		out[k] = raw
	}
	return out, nil
}

func isMsgpackArray(b []byte) bool {
	return len(b) > 0 && (b[0]&0xf0 == 0x90 || b[0] == 0xdc || b[0] == 0xdd)
}

func (c msgpackCodec) parseBatch(b []byte) ([][]byte, bool, error) {
	if !isMsgpackArray(b) {
		return nil, false, nil
	}
	if err := msgpackDepthOK(b); err != nil {
		return nil, true, err
	}
	items, _, err := c.split(b)
	return items, true, err
}

func (msgpackCodec) split(raw []byte) ([][]byte, bool, error) {
	if !isMsgpackArray(raw) {
		return nil, false, nil
	}
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, true, err
	}
	out := make([][]byte, 0, min(n, 64))
	for i := 0; i < n; i++ {
		r, err := dec.DecodeRaw()
		if err != nil {
			return nil, true, err
		}
		out = append(out, r)
	}
	return out, true, nil
}

func (msgpackCodec) isNull(raw []byte) bool {
	return len(raw) == 0 || (len(raw) == 1 && raw[0] == 0xc0)
}

func (msgpackCodec) null() []byte { return []byte{0xc0} }

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// msgpackDepthOK walks the structure of one msgpack value without decoding it: refuses
// nesting deeper than maxDepth and lengths that run past the end.
func msgpackDepthOK(b []byte) error {
	// pending[i] counts the values still expected at depth i.
	pending := []int{1}
	p := 0
	be := func(n int) (int, error) {
		if p+n > len(b) {
			return 0, fmt.Errorf("truncated msgpack")
		}
		v := 0
		for i := 0; i < n; i++ {
			v = v<<8 | int(b[p+i])
		}
		p += n
		return v, nil
	}
	for len(pending) > 0 {
		if pending[len(pending)-1] == 0 {
			pending = pending[:len(pending)-1]
			continue
		}
		pending[len(pending)-1]--
		if p >= len(b) {
			return fmt.Errorf("truncated msgpack")
		}
		c := b[p]
		p++
		children, skip := 0, 0
		var err error
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c&0xf0 == 0x80:
			children = 2 * int(c&0x0f)
		case c&0xf0 == 0x90:
			children = int(c & 0x0f)
		case c&0xe0 == 0xa0:
			skip = int(c & 0x1f)
		case c == 0xc4, c == 0xd9:
			skip, err = be(1)
		case c == 0xc5, c == 0xda:
			skip, err = be(2)
		case c == 0xc6, c == 0xdb:
			skip, err = be(4)
		case c == 0xc7:
			skip, err = be(1)
			skip++
		case c == 0xc8:
			skip, err = be(2)
			skip++
		case c == 0xc9:
			skip, err = be(4)
			skip++
		case c == 0xca:
			skip = 4
		case c == 0xcb:
			skip = 8
		case c == 0xcc, c == 0xd0:
			skip = 1
		case c == 0xcd, c == 0xd1:
			skip = 2
		case c == 0xce, c == 0xd2:
			skip = 4
		case c == 0xcf, c == 0xd3:
			skip = 8
		case c == 0xd4:
			skip = 2
		case c == 0xd5:
			skip = 3
		case c == 0xd6:
			skip = 5
		case c == 0xd7:
			skip = 9
		case c == 0xd8:
			skip = 17
		case c == 0xdc:
			children, err = be(2)
		case c == 0xdd:
			children, err = be(4)
		case c == 0xde:
			children, err = be(2)
			children *= 2
		case c == 0xdf:
			children, err = be(4)
			children *= 2
		default:
			return fmt.Errorf("invalid msgpack code 0x%02x", c)
		}
		if err != nil {
			return err
		}
		if skip > len(b)-p {
			return fmt.Errorf("truncated msgpack")
		}
		p += skip
		if children > 0 {
			// Every child takes at least one byte: a count beyond what is left is a lie.
			if children > len(b)-p {
				return fmt.Errorf("truncated msgpack")
			}
			if len(pending) >= maxDepth {
				return fmt.Errorf("nested deeper than %d", maxDepth)
			}
			pending = append(pending, children)
		}
	}
	return nil
}

// rawValue is an already encoded value (of the connection's codec).
type rawValue []byte
