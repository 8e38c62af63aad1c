// The plugin process: serves one implementation of Greeter.
import { serve } from '@plugwire/sdk';
import { greeter } from './greeter.js';

await serve({
  plugins: {
    greeter: greeter.implement({
      greet: (name) => `Hello, ${name}! (from plugin pid ${process.pid})`,
    }),
  },
});
