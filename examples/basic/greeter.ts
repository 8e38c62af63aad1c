// The interface both sides share: one definition gives the host a typed client and the
// plugin a server for its implementation.
import { definePlugin } from '@plugwire/sdk';

export interface Greeter {
  greet(name: string): string;
}

export const greeter = definePlugin<Greeter>({ name: 'greeter', methods: ['greet'] });
