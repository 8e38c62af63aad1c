// json-rpc-2.0 over a unix socket with newline-delimited JSON: what a Node user would wire
// by hand. Binary travels as base64 strings. Shared by bench/plugins/jsonrpc2.ts and its
// driver.

import type { Socket } from 'node:net';
import { JSONRPCClient, JSONRPCServer, JSONRPCServerAndClient } from 'json-rpc-2.0';

/** A json-rpc-2.0 peer (server and client) on a socket, one JSON message per line. */
export function ndjsonPeer(socket: Socket): JSONRPCServerAndClient {
  const rpc = new JSONRPCServerAndClient(
    new JSONRPCServer(),
    new JSONRPCClient((payload) => {
      socket.write(`${JSON.stringify(payload)}\n`);
    }),
  );
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    let nl = text.indexOf('\n');
    if (nl < 0) {
      buffered += text;
      return;
    }
    let line = buffered + text.slice(0, nl);
    let from = nl + 1;
    for (;;) {
      void rpc.receiveAndSend(JSON.parse(line));
      nl = text.indexOf('\n', from);
      if (nl < 0) break;
      line = text.slice(from, nl);
      from = nl + 1;
    }
    buffered = text.slice(from);
  });
  socket.on('close', () => rpc.rejectAllPendingRequests('connection closed'));
  return rpc;
}
