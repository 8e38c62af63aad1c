// Every error the mux produces is a MuxError with a stable `code`, so callers can branch on
// the code rather than on message text (the Node core / undici convention).

export class MuxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The session is closed (locally, by the peer, or because the connection was lost). */
export class SessionClosedError extends MuxError {
  constructor(message = 'yamux session closed', options?: { cause?: unknown }) {
    super('PLUGWIRE_MUX_SESSION_CLOSED', message, options);
  }
}

/** The peer reset the stream (RST), or the stream was refused (backlog full, GoAway). */
export class StreamResetError extends MuxError {
  readonly streamId: number;
  constructor(streamId: number, message = `stream ${streamId} was reset by the peer`) {
    super('PLUGWIRE_MUX_STREAM_RESET', message);
    this.streamId = streamId;
  }
}

/** The peer broke the yamux protocol; the session answers with GoAway(protocol error). */
export class ProtocolError extends MuxError {
  constructor(message: string) {
    super('PLUGWIRE_MUX_PROTOCOL_ERROR', `yamux protocol error: ${message}`);
  }
}

/**
 * The peer sent GoAway. With reason 0 (normal) it only refuses new streams, and opening one
 * fails with this error; with reason 1 or 2 the session is torn down with it.
 */
export class RemoteGoAwayError extends MuxError {
  readonly reason: number;
  constructor(reason: number) {
    const what =
      reason === 0
        ? 'the peer is not accepting new streams (GoAway)'
        : reason === 1
          ? 'the peer closed the session for a protocol error (GoAway 1)'
          : reason === 2
            ? 'the peer closed the session for an internal error (GoAway 2)'
            : `the peer sent GoAway with unknown reason ${reason}`;
    super('PLUGWIRE_MUX_GOAWAY', what);
    this.reason = reason;
  }
}

/** All 2^31 stream ids of this side were used. */
export class StreamsExhaustedError extends MuxError {
  constructor() {
    super('PLUGWIRE_MUX_STREAMS_EXHAUSTED', 'no stream ids left on this session');
  }
}

/** A keepalive ping got no answer within the connection write timeout. */
export class KeepAliveTimeoutError extends MuxError {
  constructor(ms: number) {
    super('PLUGWIRE_MUX_KEEPALIVE_TIMEOUT', `keepalive ping not answered within ${ms} ms`);
  }
}

/** `ping()` got no answer in time. */
export class PingTimeoutError extends MuxError {
  constructor(ms: number) {
    super('PLUGWIRE_MUX_PING_TIMEOUT', `ping not answered within ${ms} ms`);
  }
}

/** The connection did not take our writes for the connection write timeout. */
export class WriteTimeoutError extends MuxError {
  constructor(ms: number) {
    super(
      'PLUGWIRE_MUX_WRITE_TIMEOUT',
      `the connection accepted no writes for ${ms} ms; the peer is stuck or gone`,
    );
  }
}

/**
 * A stream opened here got no ACK within `streamOpenTimeout`: the peer cannot answer, and
 * the session is closed with this error (hashicorp/yamux closes its session the same way).
 */
export class StreamOpenTimeoutError extends MuxError {
  readonly streamId: number;
  constructor(streamId: number, ms: number) {
    super(
      'PLUGWIRE_MUX_STREAM_OPEN_TIMEOUT',
      `stream ${streamId} was not acknowledged by the peer within ${ms} ms; closing the session`,
    );
    this.streamId = streamId;
  }
}

/**
 * A stream we half-closed got no FIN from the peer within `streamCloseTimeout`; it was
 * reset. Only streams with an 'error' listener see it.
 */
export class StreamCloseTimeoutError extends MuxError {
  readonly streamId: number;
  constructor(streamId: number, ms: number) {
    super(
      'PLUGWIRE_MUX_STREAM_CLOSE_TIMEOUT',
      `stream ${streamId}: the peer did not close its side within ${ms} ms of ours; reset`,
    );
    this.streamId = streamId;
  }
}

/** A broker stream was not dialled, accepted or acknowledged in time. */
export class BrokerTimeoutError extends MuxError {
  readonly brokerId: number;
  constructor(brokerId: number, what: string, ms: number) {
    super('PLUGWIRE_BROKER_TIMEOUT', `broker id ${brokerId}: ${what} within ${ms} ms`);
    this.brokerId = brokerId;
  }
}

/** A broker dial failed: the peer closed the stream before acknowledging, or acked wrongly. */
export class BrokerError extends MuxError {
  readonly brokerId: number;
  constructor(brokerId: number, message: string, options?: { cause?: unknown }) {
    super('PLUGWIRE_BROKER_ERROR', `broker id ${brokerId}: ${message}`, options);
    this.brokerId = brokerId;
  }
}
