package plugwire

import (
	"errors"
	"fmt"
)

// JSON-RPC error codes (protocol.md §8).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	CodeApplication    = -32000
	CodeCancelled      = -32001
	CodeTimeout        = -32002
	CodeTooLarge       = -32003
	CodeClosed         = -32004
	CodePluginExited   = -32005
	CodeUnknownPlugin  = -32010
)

// RPCError is a JSON-RPC error object. Returned by a served method, it is sent as it is
// (its own code, message and data); on the calling side, errors that are not application
// errors arrive as a RemoteError.
type RPCError struct {
	Code    int
	Message string
	Data    any
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

// Error is an application error with a code, as a served method returns it: it travels as
// -32000 with data {name, code, data} (protocol.md §13.5), the way a TypeScript plugin's
// thrown `Object.assign(new Error(m), {code: 'ENOENT'})` does.
type Error struct {
	// Name is the error's class on the other side; "Error" when empty.
	Name string
	// Code is a string ("ENOENT") or an integer; nil for none.
	Code any
	// Message is the human text.
	Message string
	// Data is any extra value.
	Data any
}

func (e *Error) Error() string {
	if e.Code != nil {
		return fmt.Sprintf("%s (%v)", e.Message, e.Code)
	}
	return e.Message
}

// RemoteError is an error answer from the other side: a served method failed, or the
// call was refused (unknown method, bad params).
type RemoteError struct {
	// RPCCode is the JSON-RPC error code of the answer (-32000 for an application error).
	RPCCode int
	// Code is the application error's own code (data.code: a string or a number) when the
	// answer is an application error that has one, else the JSON-RPC code.
	Code any
	// Message is the remote message.
	Message string
	// Name is data.name of an application error ("TypeError", "Error").
	Name string
	// Data is data.data of an application error, else the answer's data.
	Data any
	// Stack is the remote stack, when the other side sends stacks.
	Stack string
}

func (e *RemoteError) Error() string {
	if e.Name != "" && e.Name != "Error" {
		return fmt.Sprintf("remote %s: %s", e.Name, e.Message)
	}
	return "remote error: " + e.Message
}

// ErrorCode is the stable code of plugwire's own errors.
func (e *RemoteError) ErrorCode() string { return "PLUGWIRE_REMOTE_ERROR" }

// A local error of plugwire carries a stable code, as its TypeScript counterpart does.
type codedError struct {
	code  string
	msg   string
	cause error
}

func (e *codedError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}
func (e *codedError) Unwrap() error     { return e.cause }
func (e *codedError) ErrorCode() string { return e.code }

// Error codes of plugwire's own errors (ErrorCode()).
const (
	ErrCodeCancelled       = "PLUGWIRE_CANCELLED"
	ErrCodeClosed          = "PLUGWIRE_CONNECTION_CLOSED"
	ErrCodeTooLarge        = "PLUGWIRE_MESSAGE_TOO_LARGE"
	ErrCodeProtocol        = "PLUGWIRE_PROTOCOL_ERROR"
	ErrCodeCodec           = "PLUGWIRE_CODEC_ERROR"
	ErrCodeBroker          = "PLUGWIRE_BROKER_ERROR"
	ErrCodeHandshake       = "PLUGWIRE_HANDSHAKE_ERROR"
	ErrCodePluginExited    = "PLUGWIRE_PLUGIN_EXITED"
	ErrCodeUnknownPlugin   = "PLUGWIRE_UNKNOWN_PLUGIN"
	ErrCodeBadArgument     = "PLUGWIRE_BAD_ARGUMENT"
	ErrCodeCookie          = "PLUGWIRE_COOKIE_MISMATCH"
	ErrCodeNoCommonVersion = "PLUGWIRE_NO_COMMON_VERSION"
	// ErrCodeTCPAuth: the plugin did not accept the host's tcp token (protocol.md §4).
	ErrCodeTCPAuth = "PLUGWIRE_TCP_AUTH"
)

func newError(code, msg string, cause error) error {
	return &codedError{code: code, msg: msg, cause: cause}
}

// Code returns the stable code of a plugwire error (ErrCode…), or "" for other errors.
func Code(err error) string {
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return ""
}

// ErrClosed is what calls on a closed connection fail with (errors.Is).
var ErrClosed = newError(ErrCodeClosed, "the connection is closed", nil)
