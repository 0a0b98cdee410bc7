/**
 * The real promtool (Debian package `prometheus`) on the repo's Prometheus files:
 * `check config`, `check rules`, and `test rules` running prometheus/alerts.test.yml,
 * which shows every alert firing on the series that should wake someone and silent
 * on the ones that should not. Skipped (one-line reason) without promtool, unless
 * CI_REQUIRE_PROMETHEUS=1 (.ci/run), which makes a missing promtool a failure.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'prometheus');
const REQUIRE = process.env.CI_REQUIRE_PROMETHEUS === '1';
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface AlertTest {
  name: string;
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

describe('prometheus rules (promtool)', () => {
  it('is installed, or the suite says why it is skipped', (ctx) => {
    if (!hasPromtool) {
      if (REQUIRE) throw new Error('CI_REQUIRE_PROMETHEUS=1 but promtool is not on PATH (apt-get install prometheus)');
      ctx.skip('promtool not installed (Debian: apt-get install prometheus)');
    }
    expect(promtool('--version').out).toMatch(/promtool, version \d+\.\d+/);
  });

  it.skipIf(!hasPromtool)('promtool check config: prometheus.yml and the rule files it loads', () => {
    const r = promtool('check', 'config', 'prometheus.yml');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  it.skipIf(!hasPromtool)('promtool check rules: alerts.yml', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    expect(r.status, r.out).toBe(0);
  });

  it.skipIf(!hasPromtool)('promtool test rules: every alert fires and stays silent where alerts.test.yml says', () => {
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  }, 120_000);

  it('covers each alert with at least one firing and one silent case', () => {
    const alerts = (parseYaml(readFileSync(path.join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string }[] }[] }).groups
      .flatMap((g) => g.rules)
      .flatMap((r) => (r.alert ? [r.alert] : []));
    const tests = (parseYaml(readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8')) as { tests: AlertTest[] }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test);
    expect(alerts).toHaveLength(7);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${alert} never fires in alerts.test.yml`).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${alert} is never shown silent in alerts.test.yml`).toBe(true);
    }
  });
});
