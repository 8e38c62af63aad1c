import { definePlugin } from '@plugwire/sdk';

export interface Fragile {
  divide(a: number, b: number): Promise<number>;
}

export const fragile = definePlugin<Fragile>({ name: 'fragile', methods: ['divide'] });
