import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 600_000,
    // Files run in separate processes: each gets its own global TracerProvider.
    pool: 'forks',
    // CI also writes machine-readable results, summarised by .ci/run.
    reporters: process.env.CI ? ['default', ['json', { outputFile: `.cache/test-results/node-${process.versions.node}.json` }]] : ['default'],
  },
});
