#!/usr/bin/env node
// The `plugwire` command.
import { main } from './program.js';

process.exitCode = await main(process.argv);
