/**
 * Static checks of the local stack: docker-compose.yml, otel-collector.yaml, the Collector
 * builder manifest and .env.example stay consistent with each other.
 *
 * - (a) every `${VAR}` / `${VAR:-default}` / `${VAR:?msg}` in docker-compose.yml and every
 *   `${env:VAR...}` in otel-collector.yaml is documented in .env.example;
 * - (b) `docker compose config` / `docker-compose config` accepts the file (skipped when neither is
 *   installed, unless CI_REQUIRE_COMPOSE=1; Debian package: docker-compose);
 * - (c) images are pinned, internal ports are bound to 127.0.0.1, and the topology keeps the
 *   facts Langfuse self-hosting needs;
 * - (d) the built Collector (`.cache/otelcol/otelcol-order-status`) validates otel-collector.yaml
 *   (skipped when the binary is absent, unless CI_REQUIRE_COLLECTOR=1, which builds it).
 */
import { describe, it, expect } from 'vitest';
import { SETTINGS_VARIABLES } from '../src/config/settings.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const COLLECTOR_CONFIG = path.join(ROOT, 'otel-collector.yaml');
const BUILDER_MANIFEST = path.join(ROOT, 'collector', 'builder-config.yaml');
const BUILD_SCRIPT = path.join(ROOT, 'collector', 'build-collector.sh');
const ENV_EXAMPLE = path.join(ROOT, '.env.example');
const COLLECTOR_BIN = path.join(ROOT, '.cache', 'otelcol', 'otelcol-order-status');
const PROMETHEUS_CONFIG = path.join(ROOT, 'prometheus', 'prometheus.yml');

const REQUIRE_COMPOSE = process.env.CI_REQUIRE_COMPOSE === '1';
const REQUIRE_COLLECTOR = process.env.CI_REQUIRE_COLLECTOR === '1';

type Yaml = Record<string, unknown>;

const isRecord = (v: unknown): v is Yaml => typeof v === 'object' && v !== null && !Array.isArray(v);

function readYaml(file: string): Yaml {
  const doc: unknown = parseYaml(readFileSync(file, 'utf8'), { merge: true });
  if (!isRecord(doc)) throw new Error(`${file}: not a YAML mapping`);
  return doc;
}

function rec(v: unknown, what: string): Yaml {
  if (!isRecord(v)) throw new Error(`${what} is not a mapping`);
  return v;
}

/** Every string scalar (keys and values) of a parsed YAML document; comments are already gone. */
function allStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) allStrings(x, out);
  else if (isRecord(v))
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      allStrings(x, out);
    }
  return out;
}

/** Compose interpolation: ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?m}, ${VAR?m}, ${VAR:+r}, $VAR; `$$` escapes. */
function composeVars(strings: readonly string[]): Set<string> {
  const vars = new Set<string>();
  for (const s of strings) {
    const unescaped = s.replace(/\$\$/g, '');
    for (const m of unescaped.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?+])[^}]*)?\}/g)) vars.add(m[1] as string);
    for (const m of unescaped.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)) vars.add(m[1] as string);
  }
  return vars;
}

/** Collector confmap: ${env:VAR} and ${env:VAR:-default}; `$$` escapes. */
function collectorEnvVars(strings: readonly string[]): Set<string> {
  const vars = new Set<string>();
  for (const s of strings) {
    for (const m of s.replace(/\$\$/g, '').matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)) vars.add(m[1] as string);
  }
  return vars;
}

/** Keys of .env.example, including documented-but-commented `# KEY=value` lines. */
function envExampleKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(?:#\s*)?(?:export\s+)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m) keys.add(m[1] as string);
  }
  return keys;
}

/** Parse `.env.example`-style text to KEY → value (uncommented lines only). */
function envAssignments(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

function services(compose: Yaml): [string, Yaml][] {
  return Object.entries(rec(compose.services, 'services')).map(([name, s]) => [name, rec(s, `service ${name}`)]);
}

function serviceEnv(svc: Yaml): Record<string, string> {
  const env = svc.environment;
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const e of env) {
      const s = String(e);
      const i = s.indexOf('=');
      if (i > 0) out[s.slice(0, i)] = s.slice(i + 1);
    }
  } else if (isRecord(env)) {
    for (const [k, v] of Object.entries(env)) out[k] = v === null ? '' : String(v);
  }
  return out;
}

function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0] as string;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.indexOf(':', lastSlash + 1);
  return colon === -1 ? undefined : noDigest.slice(colon + 1);
}

function which(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
}

/** `docker compose` (v2 plugin) if it works, else `docker-compose` (v1, Debian package), else undefined. */
function findCompose(): string[] | undefined {
  if (which('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (which('docker-compose', ['version'])) return ['docker-compose'];
  return undefined;
}

// ---------------------------------------------------------------------------

describe('local stack: environment documentation', () => {
  const documented = envExampleKeys(readFileSync(ENV_EXAMPLE, 'utf8'));

  it('every variable docker-compose.yml interpolates is documented in .env.example', () => {
    const used = composeVars(allStrings(readYaml(COMPOSE_FILE)));
    expect(used.size).toBeGreaterThan(10);
    const missing = [...used].filter((v) => !documented.has(v)).sort();
    expect(missing, `add these to .env.example (a commented "# KEY=default" line is enough)`).toEqual([]);
  });

  it("every variable the service reads is documented in .env.example and passed to compose's app service", () => {
    const appEnv = serviceEnv(rec(rec(readYaml(COMPOSE_FILE).services, 'services')['agent'], 'agent'));
    expect(SETTINGS_VARIABLES.filter((v) => !documented.has(v))).toEqual([]);
    // HOST/PORT and the endpoints are fixed for the container; everything else comes from .env.
    expect(SETTINGS_VARIABLES.filter((v) => !(v in appEnv))).toEqual([]);
  });

  it('every ${env:...} of otel-collector.yaml is documented in .env.example', () => {
    const used = collectorEnvVars(allStrings(readYaml(COLLECTOR_CONFIG)));
    expect([...used]).toEqual(expect.arrayContaining(['LANGFUSE_PUBLIC_KEY', 'LANGFUSE_SECRET_KEY', 'LANGFUSE_OTEL_ENDPOINT']));
    const missing = [...used].filter((v) => !documented.has(v)).sort();
    expect(missing, `add these to .env.example (a commented "# KEY=default" line is enough)`).toEqual([]);
  });
});

describe('local stack: docker compose config', () => {
  const compose = findCompose();

  /** Runs `<compose> --env-file <file> -f docker-compose.yml [--profile app] config` with a clean env. */
  function composeConfig(envFileText: string, profileApp: boolean): { status: number | null; out: string } {
    if (!compose) throw new Error('no compose binary');
    const dir = mkdtempSync(path.join(tmpdir(), 'compose-env-'));
    try {
      const envFile = path.join(dir, 'test.env');
      writeFileSync(envFile, envFileText);
      const [cmd, ...pre] = compose as [string, ...string[]];
      const args = [...pre, '--env-file', envFile, '-f', COMPOSE_FILE, '--project-directory', ROOT];
      if (profileApp) args.push('--profile', 'app');
      args.push('config');
      // Only PATH/HOME: the developer's shell (or a real .env) must not change the result.
      const r = spawnSync(cmd, args, {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dir },
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** .env.example with every empty value filled in (what a user does after `cp .env.example .env`). */
  function filledEnvExample(): string {
    const lines: string[] = [];
    for (const [k, v] of envAssignments(readFileSync(ENV_EXAMPLE, 'utf8'))) {
      let value = v;
      if (value === '') {
        if (k === 'ENCRYPTION_KEY') value = 'a'.repeat(64);
        else if (k === 'LANGFUSE_PUBLIC_KEY') value = 'pk-lf-test';
        else if (k === 'LANGFUSE_SECRET_KEY') value = 'sk-lf-test';
        else value = `test-${k.toLowerCase()}`;
      }
      lines.push(`${k}=${value}`);
    }
    return lines.join('\n') + '\n';
  }

  it('accepts the stack (with and without the app profile) once .env is filled in', (ctx) => {
    if (!compose) {
      if (REQUIRE_COMPOSE) throw new Error('CI_REQUIRE_COMPOSE=1 but neither `docker compose` nor `docker-compose` works (apt-get install docker-compose)');
      ctx.skip('docker compose / docker-compose not installed (Debian: apt-get install docker-compose)');
    }
    const env = filledEnvExample();
    const base = composeConfig(env, false);
    expect(base.status, base.out).toBe(0);
    expect(base.out).toContain('docker.langfuse.com/langfuse/langfuse:4');
    const withApp = composeConfig(env, true);
    expect(withApp.status, withApp.out).toBe(0);
    expect(withApp.out).toContain('order-status-agent:local');
  });

  it('refuses to start while a CHANGEME secret is missing, naming the variable', (ctx) => {
    if (!compose) {
      if (REQUIRE_COMPOSE) throw new Error('CI_REQUIRE_COMPOSE=1 but neither `docker compose` nor `docker-compose` works (apt-get install docker-compose)');
      ctx.skip('docker compose / docker-compose not installed (Debian: apt-get install docker-compose)');
    }
    // .env.example as shipped: secrets are empty.
    const r = composeConfig(readFileSync(ENV_EXAMPLE, 'utf8'), false);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/set [A-Z_]+ in \.env/);
  });
});

describe('local stack: compose topology', () => {
  const compose = readYaml(COMPOSE_FILE);
  const svcs = new Map(services(compose));
  const svc = (name: string): Yaml => {
    const s = svcs.get(name);
    if (!s) throw new Error(`service ${name} missing from docker-compose.yml`);
    return s;
  };

  it('has the Langfuse v4 topology, the collector and the optional app', () => {
    expect([...svcs.keys()].sort()).toEqual(
      ['agent', 'agent-proxy', 'agent-redis', 'clickhouse', 'langfuse-web', 'langfuse-worker', 'minio', 'otel-collector', 'postgres', 'prometheus', 'redis'].sort(),
    );
    expect(svc('langfuse-web').image).toBe('docker.langfuse.com/langfuse/langfuse:4');
    expect(svc('langfuse-worker').image).toBe('docker.langfuse.com/langfuse/langfuse-worker:4');
    for (const name of ['agent', 'agent-proxy', 'agent-redis']) expect(svc(name).profiles, name).toEqual(['app']);
  });

  it('pins every image (no latest, no missing tag; ClickHouse to a full version)', () => {
    for (const [name, s] of svcs) {
      if (s.image === undefined) {
        expect(s.build, `${name}: no image and no build`).toBeDefined();
        continue;
      }
      const image = String(s.image);
      const tag = imageTag(image);
      expect(tag, `${name}: image ${image} has no tag`).toBeDefined();
      expect(tag, `${name}: image ${image} uses latest`).not.toBe('latest');
      expect(image, `${name}: unresolved variable in image`).not.toContain('$');
    }
    const ch = String(svc('clickhouse').image);
    expect(ch).toMatch(/^(docker\.io\/)?clickhouse\/clickhouse-server:\d+\.\d+\.\d+(\.\d+)?$/);
    // Langfuse v4 needs ClickHouse >= 25.12.
    const [major, minor] = (imageTag(ch) as string).split('.').map(Number) as [number, number];
    expect(major * 100 + minor).toBeGreaterThanOrEqual(2512);
    expect(String(svc('postgres').image)).toMatch(/postgres:17(\.\d+)*$/);
  });

  it('runs the same Collector release as the builder manifest and build script', () => {
    const tag = imageTag(String(svc('otel-collector').image));
    expect(String(svc('otel-collector').image)).toMatch(/otel\/opentelemetry-collector-contrib:/);
    const manifest = readYaml(BUILDER_MANIFEST);
    const versions = new Set<string>();
    for (const kind of ['receivers', 'processors', 'exporters', 'extensions']) {
      for (const m of manifest[kind] as { gomod: string }[]) versions.add(m.gomod.split(' ')[1] as string);
    }
    expect([...versions]).toEqual([`v${tag}`]);
    const script = readFileSync(BUILD_SCRIPT, 'utf8');
    expect(script).toContain(`BUILDER_VERSION="v${tag}"`);
  });

  it('binds every published port to 127.0.0.1', () => {
    let count = 0;
    for (const [name, s] of svcs) {
      for (const p of (s.ports as unknown[] | undefined) ?? []) {
        count++;
        if (isRecord(p)) expect(p.host_ip, `${name}: ${JSON.stringify(p)}`).toBe('127.0.0.1');
        else expect(String(p), `${name}: port ${String(p)}`).toMatch(/^127\.0\.0\.1:\d+:\d+(\/tcp)?$/);
      }
    }
    expect(count).toBeGreaterThan(5);
    expect(svc('otel-collector').ports).toContain('127.0.0.1:4318:4318');
    expect(svc('agent-proxy').ports).toContain('127.0.0.1:8080:80');
  });

  it('gates start-up on healthchecks and keeps data in named volumes', () => {
    const volumes = rec(compose.volumes, 'volumes');
    for (const name of ['postgres', 'clickhouse', 'redis', 'minio', 'langfuse-web', 'langfuse-worker', 'agent', 'agent-proxy', 'agent-redis', 'prometheus']) {
      expect(svc(name).healthcheck, `${name} healthcheck`).toBeDefined();
    }
    expect(JSON.stringify(svc('langfuse-web').healthcheck)).toContain('/api/public/health');
    expect(JSON.stringify(svc('agent').healthcheck)).toContain('/healthz');
    for (const name of ['langfuse-web', 'langfuse-worker']) {
      const dep = rec(svc(name).depends_on, `${name}.depends_on`);
      for (const d of ['postgres', 'clickhouse', 'redis', 'minio']) {
        expect(rec(dep[d], `${name}.depends_on.${d}`).condition).toBe('service_healthy');
      }
    }
    expect(rec(rec(svc('agent').depends_on, 'app deps')['langfuse-web'], 'dep').condition).toBe('service_healthy');
    expect(svc('postgres').volumes).toContain('langfuse_postgres_data:/var/lib/postgresql/data');
    for (const [name, s] of svcs) {
      for (const v of (s.volumes as unknown[] | undefined) ?? []) {
        const source = String(v).split(':')[0] as string;
        if (source.startsWith('.') || source.startsWith('/')) continue; // bind mount (collector config)
        expect(Object.keys(volumes), `${name}: volume ${source} is not declared`).toContain(source);
      }
    }
  });

  it('configures Langfuse for one node and headless init with the app/Collector key pair', () => {
    for (const name of ['langfuse-web', 'langfuse-worker']) {
      const env = serviceEnv(svc(name));
      expect(env.CLICKHOUSE_CLUSTER_ENABLED).toBe('false');
      expect(env.ENCRYPTION_KEY).toMatch(/^\$\{ENCRYPTION_KEY:\?/);
      expect(env.SALT).toMatch(/^\$\{SALT:\?/);
    }
    const web = serviceEnv(svc('langfuse-web'));
    expect(web.LANGFUSE_INIT_ORG_ID).toMatch(/^\$\{LANGFUSE_INIT_ORG_ID:-.+\}$/); // never empty
    for (const k of ['ORG_NAME', 'PROJECT_ID', 'PROJECT_NAME', 'USER_EMAIL', 'USER_NAME', 'USER_PASSWORD']) {
      expect(web[`LANGFUSE_INIT_${k}`], `LANGFUSE_INIT_${k}`).toBeDefined();
    }
    expect(web.LANGFUSE_INIT_PROJECT_PUBLIC_KEY).toMatch(/^\$\{LANGFUSE_PUBLIC_KEY:\?/);
    expect(web.LANGFUSE_INIT_PROJECT_SECRET_KEY).toMatch(/^\$\{LANGFUSE_SECRET_KEY:\?/);
    const col = serviceEnv(svc('otel-collector'));
    expect(col.LANGFUSE_PUBLIC_KEY).toMatch(/^\$\{LANGFUSE_PUBLIC_KEY:\?/);
    expect(col.LANGFUSE_SECRET_KEY).toMatch(/^\$\{LANGFUSE_SECRET_KEY:\?/);
    expect(col.LANGFUSE_OTEL_ENDPOINT).toBe('http://langfuse-web:3000/api/public/otel');
    const app = serviceEnv(svc('agent'));
    expect(app.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
    expect(app.LANGFUSE_BASE_URL).toBe('http://langfuse-web:3000');
    expect(app.HOST).toBe('0.0.0.0');
    expect(app.LANGFUSE_PUBLIC_KEY).toMatch(/^\$\{LANGFUSE_PUBLIC_KEY:\?/);
    // The stack's own secrets do not leak into the app container.
    for (const k of ['ENCRYPTION_KEY', 'SALT', 'NEXTAUTH_SECRET', 'POSTGRES_PASSWORD', 'DATABASE_URL']) expect(app[k], k).toBeUndefined();
  });

  it('marks every secret as CHANGEME and never gives it a default', () => {
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    for (const secret of ['POSTGRES_PASSWORD', 'CLICKHOUSE_PASSWORD', 'REDIS_AUTH', 'MINIO_ROOT_PASSWORD', 'SALT', 'ENCRYPTION_KEY', 'NEXTAUTH_SECRET', 'LANGFUSE_INIT_USER_PASSWORD', 'LANGFUSE_SECRET_KEY', 'AGENT_REDIS_PASSWORD']) {
      expect(text, secret).not.toMatch(new RegExp(`\\$\\{${secret}:?-`));
      const lines = text.split('\n').filter((l) => l.includes(`\${${secret}`));
      expect(lines.length, secret).toBeGreaterThan(0);
      // Each use is marked on its line, or (block scalars) on the line just above.
      for (const line of lines) {
        const i = text.split('\n').indexOf(line);
        const context = text.split('\n').slice(Math.max(0, i - 2), i + 1).join('\n');
        expect(context, `${secret} is not marked CHANGEME: ${line.trim()}`).toContain('CHANGEME');
      }
    }
  });
});

describe('local stack: a fleet of agents (README "Running a fleet")', () => {
  const compose = readYaml(COMPOSE_FILE);
  const svcs = new Map(services(compose));
  const svc = (name: string): Yaml => svcs.get(name) ?? rec(undefined, `service ${name}`);
  const proxyConfig = readFileSync(path.join(ROOT, 'nginx', 'agent-proxy.conf'), 'utf8');

  it('can scale the agent: no fixed container name, no host port; clients come in through the proxy on 127.0.0.1', () => {
    const agent = svc('agent');
    expect(agent.container_name).toBeUndefined();
    expect(agent.ports).toBeUndefined();
    expect(svc('agent-proxy').ports).toEqual(['127.0.0.1:8080:80']);
    expect(rec(rec(svc('agent-proxy').depends_on, 'proxy deps').agent, 'dep').condition).toBe('service_started');
  });

  it('runs the proxy from a pinned nginx with the repo config, balancing over every replica and re-resolving them', () => {
    const proxy = svc('agent-proxy');
    // `resolve` on an upstream server needs open-source nginx >= 1.27.3.
    const [major, minor] = (imageTag(String(proxy.image)) as string).split(/[.-]/).map(Number) as [number, number];
    expect(String(proxy.image)).toMatch(/^(docker\.io\/)?nginx:\d+\.\d+\.\d+(-alpine)?$/);
    expect(major * 1000 + minor).toBeGreaterThanOrEqual(1027);
    expect(proxy.volumes).toEqual(['./nginx/agent-proxy.conf:/etc/nginx/conf.d/default.conf:ro']);
    expect(proxyConfig).toMatch(/resolver 127\.0\.0\.11 /);
    expect(proxyConfig).toMatch(/upstream agent \{[^}]*zone agent[^}]*server agent:8080 resolve;/s);
    expect(proxyConfig).toMatch(/^\s*listen 80;/m);
    expect(proxyConfig).toContain('proxy_pass http://agent;');
    // The webhook's body limit, and SSE passed through unbuffered.
    expect(proxyConfig).toMatch(/client_max_body_size 64k;/);
    expect(proxyConfig).toMatch(/proxy_buffering off;/);
    expect(JSON.stringify(proxy.healthcheck)).toContain('/proxy-health');
  });

  it("lets Langfuse's worker deliver webhooks to the proxy (whitelisted host, port 80 in-network)", () => {
    for (const name of ['langfuse-web', 'langfuse-worker']) {
      expect(serviceEnv(svc(name)).LANGFUSE_WEBHOOK_WHITELISTED_HOST, name).toBe('agent-proxy');
    }
  });

  it("gives the agents their own Redis (not Langfuse's), password-protected, without persistence", () => {
    const redis = svc('agent-redis');
    expect(String(redis.image)).toMatch(/^(docker\.io\/)?redis:\d+\.\d+\.\d+$/);
    expect(String(redis.command)).toContain('--requirepass ${AGENT_REDIS_PASSWORD:?');
    expect(String(redis.command)).toMatch(/--appendonly no/);
    expect(redis.ports).toEqual(['127.0.0.1:6380:6379']);
    const app = serviceEnv(svc('agent'));
    expect(app.REDIS_URL).toMatch(/^redis:\/\/:\$\{AGENT_REDIS_PASSWORD:\?[^}]+\}@agent-redis:6379\/0$/);
    expect(app.REDIS_URL).not.toContain('REDIS_AUTH');
    expect(app.LANGFUSE_WEBHOOK_SECRET).toBe('${LANGFUSE_WEBHOOK_SECRET:-}');
    // Redis is optional: the agent starts without waiting for it to be healthy.
    expect(rec(rec(svc('agent').depends_on, 'app deps')['agent-redis'], 'dep').condition).toBe('service_started');
  });

  it('keeps the prompt snapshot on a volume the replicas share, writable by the non-root user', () => {
    const app = serviceEnv(svc('agent'));
    expect(app.PROMPT_SNAPSHOT_FILE).toBe('/app/.cache/prompt-snapshot.json');
    expect(svc('agent').volumes).toEqual(['agent_prompt_snapshot:/app/.cache']);
    expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/mkdir -p \/app\/\.cache && chown node:node \/app\/\.cache\s+USER node/);
  });
});

describe('local stack: otel-collector.yaml', () => {
  const cfg = readYaml(COLLECTOR_CONFIG);

  it('wires otlp → memory_limiter, batch → otlp_http/langfuse, debug', () => {
    const traces = rec(rec(rec(cfg.service, 'service').pipelines, 'pipelines').traces, 'traces');
    expect(traces.receivers).toEqual(['otlp']);
    expect(traces.processors).toEqual(['memory_limiter', 'batch']);
    expect(traces.exporters).toEqual(['otlp_http/langfuse', 'debug']);
    const otlp = rec(rec(cfg.receivers, 'receivers').otlp, 'otlp');
    expect(Object.keys(rec(otlp.protocols, 'protocols'))).toEqual(['http']);
  });

  it('wires metrics otlp → memory_limiter, batch → prometheus, served where Prometheus scrapes', () => {
    const metrics = rec(rec(rec(cfg.service, 'service').pipelines, 'pipelines').metrics, 'metrics');
    expect(metrics.receivers).toEqual(['otlp']);
    expect(metrics.processors).toEqual(['memory_limiter', 'batch']);
    expect(metrics.exporters).toEqual(['prometheus']);
    const prom = rec(rec(cfg.exporters, 'exporters').prometheus, 'prometheus exporter');
    expect(String(prom.endpoint)).toBe('${env:OTELCOL_PROMETHEUS_ENDPOINT:-0.0.0.0:8889}');
    // Prometheus (compose) scrapes the port compose configures for the exporter.
    const compose = readYaml(COMPOSE_FILE);
    const collectorEnv = serviceEnv(rec(rec(compose.services, 'services')['otel-collector'], 'otel-collector'));
    const port = String(collectorEnv.OTELCOL_PROMETHEUS_ENDPOINT).split(':').pop();
    const scrape = rec(readYaml(PROMETHEUS_CONFIG), 'prometheus.yml').scrape_configs as Yaml[];
    const targets = scrape.flatMap((job) => (job.static_configs as Yaml[]).flatMap((c) => c.targets as string[]));
    expect(targets).toEqual([`otel-collector:${port}`]);
    // The exporter sets job/instance from the resource (service.name, service.instance.id): keep them.
    expect(scrape[0]?.honor_labels).toBe(true);
  });

  it('exports to the Langfuse OTLP base URL with Basic auth, the v4 header and bounded retries', () => {
    const exp = rec(rec(cfg.exporters, 'exporters')['otlp_http/langfuse'], 'otlp_http/langfuse');
    const endpoint = String(exp.endpoint);
    expect(endpoint).toMatch(/^\$\{env:LANGFUSE_OTEL_ENDPOINT:-http:\/\/localhost:3000\/api\/public\/otel\}$/);
    expect(endpoint).not.toContain('/v1/traces');
    expect(rec(exp.headers, 'headers')['x-langfuse-ingestion-version']).toBe('4');
    expect(rec(exp.auth, 'auth').authenticator).toBe('basicauth/langfuse');
    const auth = rec(rec(rec(cfg.extensions, 'extensions')['basicauth/langfuse'], 'basicauth').client_auth, 'client_auth');
    expect(auth).toEqual({ username: '${env:LANGFUSE_PUBLIC_KEY}', password: '${env:LANGFUSE_SECRET_KEY}' });
    const retry = rec(exp.retry_on_failure, 'retry_on_failure');
    expect(retry.enabled).toBe(true);
    expect(String(retry.max_elapsed_time)).toMatch(/300s/);
    expect(rec(exp.sending_queue, 'sending_queue').enabled).toBe(true);
    expect(rec(rec(cfg.exporters, 'exporters').debug, 'debug').verbosity).toBe('basic');
  });

  it('uses exactly the components the builder manifest compiles in', () => {
    const manifest = readYaml(BUILDER_MANIFEST);
    const modules = (kind: string): string[] =>
      ((manifest[kind] as { gomod: string }[] | undefined) ?? []).map((m) => (m.gomod.split(' ')[0] as string).split('/').pop() as string).sort();
    const types = (section: unknown): string[] => [...new Set(Object.keys(rec(section, 'section')).map((id) => id.split('/')[0] as string))].sort();
    const moduleFor: Record<string, string> = {
      otlp: 'otlpreceiver',
      memory_limiter: 'memorylimiterprocessor',
      batch: 'batchprocessor',
      otlp_http: 'otlphttpexporter',
      debug: 'debugexporter',
      prometheus: 'prometheusexporter',
      basicauth: 'basicauthextension',
      health_check: 'healthcheckextension',
    };
    const expected = (section: unknown): string[] => types(section).map((t) => moduleFor[t] ?? `unknown:${t}`).sort();
    expect(modules('receivers')).toEqual(expected(cfg.receivers));
    expect(modules('processors')).toEqual(expected(cfg.processors));
    expect(modules('exporters')).toEqual(expected(cfg.exporters));
    expect(modules('extensions')).toEqual(expected(cfg.extensions));
    expect(modules('providers')).toEqual(['envprovider', 'fileprovider']);
    const dist = rec(manifest.dist, 'dist');
    expect(dist.name).toBe('otelcol-order-status');
    expect(String(dist.output_path)).toMatch(/^\.cache\/otelcol/);
  });

  it('is accepted by the built Collector (`validate`), which also rejects a broken config', (ctx) => {
    if (!existsSync(COLLECTOR_BIN)) {
      if (!REQUIRE_COLLECTOR) ctx.skip(`collector not built (${path.relative(ROOT, COLLECTOR_BIN)}); run collector/build-collector.sh`);
      // Mandatory: build it (idempotent; validates as well). Several minutes on a cold Go cache.
      const b = spawnSync('bash', [BUILD_SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 30 * 60_000 });
      expect(b.status, `${b.stdout}${b.stderr}`).toBe(0);
    }
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANGFUSE_PUBLIC_KEY: 'pk-lf-validate', LANGFUSE_SECRET_KEY: 'sk-lf-validate' };
    const ok = spawnSync(COLLECTOR_BIN, ['validate', '--config', COLLECTOR_CONFIG], { env, encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0);

    // A misspelt component must fail validation (the check is not vacuous).
    const dir = mkdtempSync(path.join(tmpdir(), 'otelcol-cfg-'));
    try {
      const broken = path.join(dir, 'broken.yaml');
      writeFileSync(broken, readFileSync(COLLECTOR_CONFIG, 'utf8').replaceAll('memory_limiter', 'memory_limitr'));
      const bad = spawnSync(COLLECTOR_BIN, ['validate', '--config', broken], { env, encoding: 'utf8', timeout: 60_000 });
      expect(bad.status).not.toBe(0);
      expect(`${bad.stdout}${bad.stderr}`).toContain('memory_limitr');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 35 * 60_000);
});

describe('local stack: prometheus', () => {
  const compose = readYaml(COMPOSE_FILE);
  const prometheus = rec(rec(compose.services, 'services').prometheus, 'prometheus');

  it('runs a pinned Prometheus on 127.0.0.1:9090 with the repo config and alert rules, data in a named volume', () => {
    expect(String(prometheus.image)).toMatch(/^(docker\.io\/)?prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(prometheus.ports).toEqual(['127.0.0.1:9090:9090']);
    // Nothing else publishes 9090 (MinIO's S3 port moved to 9002 for it).
    for (const [name, s] of services(compose)) {
      if (name === 'prometheus') continue;
      for (const p of (s.ports as unknown[] | undefined) ?? []) expect(String(p), name).not.toMatch(/:9090:/);
    }
    expect(prometheus.volumes).toEqual(
      expect.arrayContaining(['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']),
    );
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(Object.keys(rec(compose.volumes, 'volumes'))).toContain('prometheus_data');
    expect(rec(rec(prometheus.depends_on, 'depends_on')['otel-collector'], 'dep').condition).toBe('service_started');
    const config = readYaml(PROMETHEUS_CONFIG);
    expect(config.rule_files).toEqual(['alerts.yml']);
  });

  it('holds the seven SPEC §13 alerts, each with for, severity, summary and a runbook section in the README', () => {
    const rules = (rec(readYaml(path.join(ROOT, 'prometheus', 'alerts.yml')), 'alerts').groups as Yaml[]).flatMap((g) => g.rules as Yaml[]);
    const alerts = rules.filter((r) => r.alert !== undefined);
    expect(alerts.map((a) => a.alert)).toEqual([
      'OrderStatusAvailabilityBurn',
      'OrderStatusLatencyP95High',
      'OrderStatusPromptServedFromCache',
      'OrderStatusPromptUnavailable',
      'OrderStatusModelErrors',
      'OrderStatusCostPerHourHigh',
      'OrderStatusNegativeFeedbackHigh',
    ]);
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const a of alerts) {
      const name = String(a.alert);
      expect(String(a.for), name).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning'], name).toContain(rec(a.labels, `${name}.labels`).severity);
      const annotations = rec(a.annotations, `${name}.annotations`);
      expect(String(annotations.summary), name).not.toBe('');
      expect(annotations.runbook_url, name).toBe(`README.md#${name.toLowerCase()}`);
      // The runbook the annotation points to exists, with its rollback command.
      const section = readme.split(/^### /m).find((s) => s.startsWith(`${name}\n`));
      expect(section, `README.md has no "### ${name}" runbook`).toBeDefined();
      expect(section).toContain('npm run prompts -- rollback --label production');
    }
  });
});
