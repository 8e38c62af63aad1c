// Wire constants of HashiCorp's yamux (spec.md in github.com/hashicorp/yamux). They are the
// protocol: changing any of them breaks interoperability with Go's yamux and go-plugin.

/** The only protocol version yamux defines. */
export const PROTOCOL_VERSION = 0;

/** Every frame starts with this many header bytes: version, type, flags, stream id, length. */
export const HEADER_SIZE = 12;

/** Frame types (header byte 1). */
export const FrameType = {
  /** Stream payload; `length` is the number of payload bytes that follow the header. */
  Data: 0,
  /** Stream window credit; `length` is the delta. Also carries SYN/ACK/FIN/RST alone. */
  WindowUpdate: 1,
  /** Liveness/RTT; stream id 0, `length` is an opaque value echoed back with ACK. */
  Ping: 2,
  /** Session shutdown; stream id 0, `length` is a GoAwayCode. */
  GoAway: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Header flags (bytes 2–3, big-endian). They are bits: a frame may carry several. */
export const Flag = {
  /** Opens a stream. */
  SYN: 0x1,
  /** Acknowledges a stream (or answers a ping). */
  ACK: 0x2,
  /** Half-closes the sender's side of a stream. */
  FIN: 0x4,
  /** Resets a stream at once. */
  RST: 0x8,
} as const;

/** GoAway reasons (the `length` field of a GoAway frame). */
export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
} as const;
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/** Every stream starts with this much credit in both directions (256 KiB). */
export const INITIAL_STREAM_WINDOW = 256 * 1024;

/** Largest value of the 32-bit length, id and window fields. */
export const MAX_UINT32 = 0xffff_ffff;
