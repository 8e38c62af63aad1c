package plugwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxMessageSize is the largest message either way unless configured (protocol.md §8).
const DefaultMaxMessageSize = 64 << 20

// errFrameTooLarge is a frame whose header announces more than the limit.
type errFrameTooLarge struct{ size, limit int }

func (e *errFrameTooLarge) Error() string {
	return fmt.Sprintf("message of %d bytes is larger than the limit of %d bytes", e.size, e.limit)
}
func (e *errFrameTooLarge) ErrorCode() string { return ErrCodeTooLarge }

// readFrame reads one 4-byte big-endian length and that many bytes. A length over limit is
// refused from the header alone, and the buffer grows with the bytes that arrive, never
// with what the header claims.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n > limit {
		return nil, &errFrameTooLarge{size: n, limit: limit}
	}
	var b bytes.Buffer
	if n <= 64<<10 {
		b.Grow(n)
	}
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// frame prefixes a message with its length.
func frame(msg []byte) []byte {
	out := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(out, uint32(len(msg)))
	copy(out[4:], msg)
	return out
}
