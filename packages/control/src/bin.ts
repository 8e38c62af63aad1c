#!/usr/bin/env node
// The `plugwire` command: the manager's CLI (list, inspect, call, run, …) with this package's
// control plane served by `plugwire run`. It lives here because only this package sees both
// the CLI (in @plugwire/manager) and the control server (see docs/architecture.md).
import { main } from '@plugwire/manager/cli';
import { serveControl } from './server.js';

process.exitCode = await main(process.argv, {
  control: async (manager, o) => {
    const s = await serveControl(manager, o.port === undefined ? {} : { port: o.port });
    return {
      describe: () => [
        ...(s.socket ? [`control API on ${s.socket}`] : []),
        ...(s.url ? [`dashboard on ${s.url}/?token=<the token in ${s.tokenFile}>`] : []),
      ],
      close: () => s.close(),
    };
  },
});
