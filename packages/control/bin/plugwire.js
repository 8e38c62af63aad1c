#!/usr/bin/env node
// The `plugwire` command. A stub that is there before the build, so that installing the
// workspace can link the bin; the command itself is compiled to dist/ by `tsc -b`.
await import('../dist/bin.js');
