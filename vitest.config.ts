import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 600_000,
    // Files run in separate processes: each gets its own global TracerProvider.
    pool: 'forks',
  },
});
