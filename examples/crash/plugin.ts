// A plugin with a fatal bug: dividing by zero kills the whole process.
import { serve } from '@plugwire/sdk';
import { fragile } from './fragile.js';

await serve({
  plugins: {
    fragile: fragile.implement({
      async divide(a, b) {
        if (b === 0) {
          process.stderr.write('fatal: division by zero, giving up\n');
          process.exit(2);
        }
        return a / b;
      },
    }),
  },
});
