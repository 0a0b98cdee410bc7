/**
 * Every benchmark section, in the order they run. To add one: write bench/sections/<name>.ts
 * exporting a `BenchSection` (see section.ts and README "Adding a section"), then add it here.
 */
import { compareSection } from './compare.js';
import { concurrencySection } from './concurrency.js';
import { overheadSection } from './overhead.js';
import { profileSection } from './profile.js';
import { promptsSection } from './prompts.js';
import type { BenchSection } from './section.js';
import { soakSection } from './soak.js';
import { streamingSection } from './streaming.js';
import { tracingSection } from './tracing.js';

export const SECTIONS: readonly BenchSection[] = [
  overheadSection,
  tracingSection,
  compareSection,
  concurrencySection,
  promptsSection,
  soakSection,
  streamingSection,
  profileSection,
];
