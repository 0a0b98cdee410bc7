/**
 * Local stand-in for the Langfuse public prompt API (v2), good enough for the real
 * `@langfuse/client` to talk to it.
 *
 * Modelled on the Langfuse server (web/src/features/prompts/server/*):
 *  - Basic auth `publicKey:secretKey`; 401 `{"message": "...", "error": "UnauthorizedError"}`.
 *  - GET    /api/public/v2/prompts/{name}?label=&version=   (neither → label "production"; both → 400)
 *  - GET    /api/public/v2/prompts?name=&label=&tag=&version=&page=&limit=
 *  - POST   /api/public/v2/prompts                           (new version = max+1, always gets "latest")
 *  - PATCH  /api/public/v2/prompts/{name}/versions/{version} (`{"newLabels": [...]}` adds labels)
 *  - DELETE /api/public/v2/prompts/{name}?label=&version=
 *  - GET    /api/public/health
 *  - the dataset APIs of langfuse-datasets-stand-in.ts (datasets, dataset items, dataset run items)
 *
 * Standalone: `node --import tsx test/support/langfuse-prompt-stand-in.ts --port 3100
 *   [--public-key pk] [--secret-key sk] [--seed prompts.json] [--delay-ms n] [--run-items v3|v4]`
 * (standalone it also serves the scores, metrics and OTLP APIs of langfuse-quality-stand-in.ts)
 * prints `listening http://127.0.0.1:3100` and runs until SIGTERM/SIGINT.
 */
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  closeServer,
  createStandInServer,
  isDirectRun,
  listen,
  parseCliArgs,
  queryObject,
  readBody,
  runStandalone,
  sendFaultBody,
  sendJson,
} from './stand-in-util.js';
import { createLangfuseDatasetRoutes, type LangfuseDatasetRoutes, type RunItemsMode } from './langfuse-datasets-stand-in.js';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type LangfusePromptType = 'chat' | 'text';

export interface LangfuseChatMessage {
  role: string;
  content: string;
  type?: 'chatmessage';
}

export interface LangfusePlaceholderMessage {
  type: 'placeholder';
  name: string;
}

export type LangfuseChatItem = LangfuseChatMessage | LangfusePlaceholderMessage;

/** One prompt version to seed / create. Same semantics as POST /api/public/v2/prompts. */
export interface LangfusePromptSeed {
  name: string;
  /** Defaults to 'chat' when `prompt` is an array, else 'text'. */
  type?: LangfusePromptType | undefined;
  prompt: string | LangfuseChatItem[];
  config?: unknown;
  labels?: string[] | undefined;
  /** Tags are per prompt (all versions); undefined keeps the latest version's tags. */
  tags?: string[] | undefined;
  commitMessage?: string | null | undefined;
}

/** A stored prompt version, as the API returns it. */
export interface StoredPromptVersion {
  id: string;
  name: string;
  version: number;
  type: LangfusePromptType;
  prompt: string | LangfuseChatItem[];
  config: unknown;
  labels: string[];
  tags: string[];
  commitMessage: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  projectId: string;
  isActive: null;
}

export type LangfuseFault =
  | 'hang'
  | 'bad-json'
  | 'reset'
  | { status: number; body?: unknown; headers?: Record<string, string> };

export interface LangfuseRequestRecord {
  method: string;
  /** Raw (still URL-encoded) path, without query string. */
  path: string;
  query: Record<string, string>;
  /** HTTP status sent; 0 while pending or when the socket was reset / destroyed. */
  status: number;
  /** Decoded prompt name for /api/public/v2/prompts/{name}[...] routes. */
  promptName?: string;
}

/** A request handed to `extraRoutes` (other Langfuse APIs served by the same stand-in). */
export interface LangfuseExtraRequest {
  method: string;
  pathname: string;
  query: Record<string, string>;
  rawBody: Buffer;
  headers: http.IncomingHttpHeaders;
  /** Throws the stand-in's 401 unless the request carries the project's Basic auth. */
  checkAuth(): void;
}

export interface LangfuseExtraResponse {
  status: number;
  /** JSON body; omitted: an empty body. */
  body?: unknown;
  /** A non-JSON body (e.g. an empty protobuf OTLP response). */
  raw?: { contentType: string; data: Buffer };
}

/** More routes on the same server (see langfuse-quality-stand-in.ts); undefined: not mine. */
export interface LangfuseExtraRoutes {
  handle(request: LangfuseExtraRequest): LangfuseExtraResponse | undefined;
}

export interface LangfusePromptStandInOptions {
  /** Default 0 (ephemeral). */
  port?: number | undefined;
  /** Default 127.0.0.1. */
  host?: string | undefined;
  /** Default 'pk-lf-stand-in'. */
  publicKey?: string | undefined;
  /** Default 'sk-lf-stand-in'. */
  secretKey?: string | undefined;
  /** Seed versions, applied in order with POST semantics (auto `latest`, labels moved). */
  prompts?: LangfusePromptSeed[] | undefined;
  /** Reported in /api/public/health. Default '3.0.0-stand-in'. */
  serverVersion?: string | undefined;
  projectId?: string | undefined;
  /** Artificial latency for every request. Default 0. */
  delayMs?: number | undefined;
  /** Further Langfuse APIs on the same port (faults and delays apply to them too). */
  extraRoutes?: LangfuseExtraRoutes | undefined;
  /** The dataset APIs (langfuse-datasets-stand-in.ts): `v3` (default) records run items, `v4` answers them 404; false: off. */
  datasets?: RunItemsMode | false | undefined;
}

export interface LangfusePromptStandIn {
  /** e.g. http://127.0.0.1:43123 — pass as `baseUrl` to LangfuseClient. */
  readonly baseUrl: string;
  /** Alias of baseUrl (for the standalone runner). */
  readonly url: string;
  readonly port: number;
  readonly publicKey: string;
  readonly secretKey: string;
  /** Every request received, in arrival order. */
  readonly requests: LangfuseRequestRecord[];
  /** Datasets, items, runs and run items received (undefined with `datasets: false`). */
  readonly datasets: LangfuseDatasetRoutes | undefined;
  /** Number of GET /api/public/v2/prompts/{name} requests, optionally for one effective label and/or name. */
  promptFetches(label?: string, name?: string): number;
  /** Fault applied to every request until cleared. Clearing 'hang' releases parked requests (they are then answered normally). */
  setFault(fault: LangfuseFault | null, scope?: { paths: RegExp }): void;
  setDelayMs(ms: number): void;
  /** Close the listening socket (connections → ECONNREFUSED) but keep the port and the store. */
  stopListening(): Promise<void>;
  /** Re-listen on the SAME port. */
  startListening(): Promise<void>;
  readonly listening: boolean;
  /** Create a version with POST semantics (no HTTP). */
  createPrompt(seed: LangfusePromptSeed): StoredPromptVersion;
  /** Add labels with PATCH semantics (no HTTP). */
  addLabels(name: string, version: number, labels: string[]): StoredPromptVersion;
  /** Resolve like GET (no HTTP): no label & no version → 'production'. */
  getPrompt(name: string, opts?: { label?: string | undefined; version?: number | undefined }): StoredPromptVersion | undefined;
  /** All versions of a prompt, ascending. */
  versions(name: string): StoredPromptVersion[];
  clearRequests(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

const PREFIX = '/api/public/v2/prompts';
const LABEL_RE = /^[a-z0-9_\-.]+$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'object' && body && 'message' in body ? String(body.message) : `HTTP ${status}`);
  }
}

const invalidRequest = (message: string): HttpError =>
  new HttpError(400, { message, error: 'InvalidRequestError' });
const zodLike = (message: string, path: (string | number)[]): HttpError =>
  new HttpError(400, { message: 'Invalid request data', error: [{ code: 'custom', message, path }] });
const notFound = (message: string): HttpError => new HttpError(404, { message, error: 'LangfuseNotFoundError' });

function isChatItem(x: unknown): x is LangfuseChatItem {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (o.type === 'placeholder') return typeof o.name === 'string';
  return typeof o.role === 'string' && typeof o.content === 'string';
}

class PromptStore {
  private readonly byName = new Map<string, StoredPromptVersion[]>();

  constructor(private readonly projectId: string) {}

  versions(name: string): StoredPromptVersion[] {
    return this.byName.get(name) ?? [];
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  find(name: string, label: string | undefined, version: number | undefined): StoredPromptVersion | undefined {
    const list = this.byName.get(name);
    if (!list) return undefined;
    if (version !== undefined) return list.find((p) => p.version === version);
    const l = label ?? 'production';
    return list.find((p) => p.labels.includes(l));
  }

  private removeLabels(name: string, labels: readonly string[], except: StoredPromptVersion | undefined, now: string): void {
    for (const p of this.versions(name)) {
      if (p === except) continue;
      const kept = p.labels.filter((l) => !labels.includes(l));
      if (kept.length !== p.labels.length) {
        p.labels = kept;
        p.updatedAt = now;
      }
    }
  }

  create(input: LangfusePromptSeed, createdBy: string): StoredPromptVersion {
    const type: LangfusePromptType = input.type ?? (Array.isArray(input.prompt) ? 'chat' : 'text');
    if (typeof input.name !== 'string' || input.name.length === 0) throw zodLike('Required', ['name']);
    if (type === 'chat') {
      if (!Array.isArray(input.prompt) || !input.prompt.every(isChatItem)) throw zodLike('Expected array of chat messages', ['prompt']);
    } else if (typeof input.prompt !== 'string') {
      throw zodLike('Expected string, received ' + typeof input.prompt, ['prompt']);
    }
    const labels = input.labels ?? [];
    labels.forEach((l, i) => {
      if (typeof l !== 'string' || !LABEL_RE.test(l)) {
        throw zodLike('Label must be lowercase alphanumeric with optional underscores, hyphens, or periods', ['labels', i]);
      }
    });
    const list = this.byName.get(input.name) ?? [];
    const latest = list.reduce<StoredPromptVersion | undefined>((a, b) => (a && a.version > b.version ? a : b), undefined);
    if (latest && latest.type !== type) {
      throw invalidRequest('Previous versions have different prompt type. Create a new prompt with a different name.');
    }
    const now = new Date().toISOString();
    const finalLabels = [...new Set([...labels, 'latest'])];
    const tags = [...new Set(input.tags ?? latest?.tags ?? [])];
    this.removeLabels(input.name, finalLabels, undefined, now);
    for (const p of list) {
      if (JSON.stringify(p.tags) !== JSON.stringify(tags)) {
        p.tags = [...tags];
        p.updatedAt = now;
      }
    }
    const created: StoredPromptVersion = {
      id: randomUUID(),
      name: input.name,
      version: (latest?.version ?? 0) + 1,
      type,
      prompt: structuredClone(input.prompt),
      config: input.config === undefined || input.config === null ? {} : structuredClone(input.config),
      labels: finalLabels,
      tags: [...tags],
      commitMessage: input.commitMessage ?? null,
      createdAt: now,
      updatedAt: now,
      createdBy,
      projectId: this.projectId,
      isActive: null,
    };
    list.push(created);
    this.byName.set(input.name, list);
    return created;
  }

  addLabels(name: string, version: number, newLabels: readonly string[]): StoredPromptVersion {
    if (newLabels.includes('latest')) {
      throw zodLike("Label 'latest' is always assigned to the latest prompt version", ['newLabels']);
    }
    const target = this.versions(name).find((p) => p.version === version);
    if (!target) throw notFound(`Prompt not found: ${name}`);
    const now = new Date().toISOString();
    this.removeLabels(name, newLabels, target, now);
    target.labels = [...new Set([...newLabels, ...target.labels])];
    target.updatedAt = now;
    return target;
  }

  delete(name: string, label: string | undefined, version: number | undefined): number {
    const list = this.byName.get(name);
    if (!list || list.length === 0) throw notFound(`Prompt not found: ${name}`);
    const keep = list.filter((p) => !((version === undefined || p.version === version) && (label === undefined || p.labels.includes(label))));
    const removed = list.length - keep.length;
    if (removed === 0) throw notFound(`Prompt not found: ${name}`);
    if (keep.length === 0) this.byName.delete(name);
    else this.byName.set(name, keep);
    return removed;
  }
}

function toApi(p: StoredPromptVersion, withResolution: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: p.id,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    projectId: p.projectId,
    createdBy: p.createdBy,
    prompt: p.prompt,
    name: p.name,
    version: p.version,
    type: p.type,
    isActive: p.isActive,
    config: p.config,
    tags: p.tags,
    labels: p.labels,
    commitMessage: p.commitMessage,
  };
  if (withResolution) out.resolutionGraph = null;
  return out;
}

function parseIntParam(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw zodLike('Expected integer, received ' + JSON.stringify(raw), [name]);
  return n;
}

export async function startLangfusePromptStandIn(options: LangfusePromptStandInOptions = {}): Promise<LangfusePromptStandIn> {
  const host = options.host ?? '127.0.0.1';
  const publicKey = options.publicKey ?? 'pk-lf-stand-in';
  const secretKey = options.secretKey ?? 'sk-lf-stand-in';
  const serverVersion = options.serverVersion ?? '3.0.0-stand-in';
  const store = new PromptStore(options.projectId ?? 'stand-in-project');
  for (const seed of options.prompts ?? []) store.create(seed, 'seed');

  const requests: LangfuseRequestRecord[] = [];
  const datasetRoutes = options.datasets === false ? undefined : createLangfuseDatasetRoutes({ projectId: options.projectId, runItems: options.datasets ?? 'v3' });
  let fault: LangfuseFault | null = null;
  let faultPaths: RegExp | undefined;
  let delayMs = options.delayMs ?? 0;
  let closed = false;
  const parked = new Set<{ resume: () => void; res: http.ServerResponse }>();
  const timers = new Set<NodeJS.Timeout>();

  const checkAuth = (req: http.IncomingMessage): void => {
    const header = req.headers.authorization;
    const fail = (message: string): HttpError => new HttpError(401, { message, error: 'UnauthorizedError' });
    if (!header) throw fail('No authorization header');
    if (!header.startsWith('Basic ')) throw fail('Invalid authorization header');
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    const user = idx >= 0 ? decoded.slice(0, idx) : decoded;
    const pass = idx >= 0 ? decoded.slice(idx + 1) : '';
    if (!user || !pass) throw fail("Invalid authorization header. Confirm that you've configured the correct host.");
    if (user !== publicKey) throw fail("Invalid public key. Confirm that you've configured the correct host.");
    if (pass !== secretKey) throw fail("Invalid credentials. Confirm that you've configured the correct host.");
  };

  const route = (method: string, pathname: string, query: Record<string, string>, rawBody: Buffer, record: LangfuseRequestRecord, req: http.IncomingMessage): LangfuseExtraResponse => {
    const extraRequest = { method, pathname, query, rawBody, headers: req.headers, checkAuth: () => checkAuth(req) };
    const extra = datasetRoutes?.handle(extraRequest) ?? options.extraRoutes?.handle(extraRequest);
    if (extra) return extra;
    if (pathname === '/api/public/health') {
      if (method !== 'GET') throw new HttpError(405, { message: 'Method not allowed', error: 'MethodNotAllowedError' });
      return { status: 200, body: { status: 'OK', version: serverVersion } };
    }
    if (pathname !== PREFIX && !pathname.startsWith(PREFIX + '/')) {
      throw new HttpError(404, { message: 'Not found', error: 'NotFound' });
    }
    checkAuth(req);
    const parseJson = (): Record<string, unknown> => {
      try {
        const v: unknown = JSON.parse(rawBody.toString('utf8') || 'null');
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        return v as Record<string, unknown>;
      } catch {
        throw zodLike('Expected object', []);
      }
    };

    if (pathname === PREFIX || pathname === PREFIX + '/') {
      if (method === 'GET') return { status: 200, body: listPrompts(query) };
      if (method === 'POST') {
        const b = parseJson();
        const created = store.create(
          {
            name: b.name as string,
            type: b.type as LangfusePromptType | undefined,
            prompt: b.prompt as string | LangfuseChatItem[],
            config: b.config,
            labels: b.labels as string[] | undefined,
            tags: b.tags as string[] | undefined,
            commitMessage: (b.commitMessage as string | null | undefined) ?? null,
          },
          'API',
        );
        return { status: 201, body: toApi(created, false) };
      }
      throw new HttpError(405, { message: 'Method not allowed', error: 'MethodNotAllowedError' });
    }

    const rest = pathname.slice(PREFIX.length + 1);
    const versionMatch = /^(.+)\/versions\/([^/]+)$/.exec(rest);
    if (method === 'PATCH' && versionMatch) {
      const name = decodeURIComponent(versionMatch[1] as string);
      record.promptName = name;
      const b = parseJson();
      if (!Array.isArray(b.newLabels) || !b.newLabels.every((l) => typeof l === 'string')) {
        throw zodLike('Expected array of strings', ['newLabels']);
      }
      const version = Number(decodeURIComponent(versionMatch[2] as string));
      const updated = store.addLabels(name, version, b.newLabels as string[]);
      return { status: 200, body: toApi(updated, false) };
    }

    const name = decodeURIComponent(rest);
    record.promptName = name;
    const version = parseIntParam(query.version, 'version');
    const label = query.label === '' ? undefined : query.label;
    if (method === 'GET') {
      if (version !== undefined && label !== undefined) throw invalidRequest('Cannot specify both version and label');
      const found = store.find(name, label, version);
      if (!found) {
        const msg =
          version !== undefined
            ? `Prompt not found: '${name}' with version ${version}`
            : `Prompt not found: '${name}' with label '${label ?? 'production'}'`;
        throw notFound(msg);
      }
      return { status: 200, body: toApi(found, true) };
    }
    if (method === 'DELETE') {
      store.delete(name, label, version);
      return { status: 204 };
    }
    throw new HttpError(405, { message: 'Method not allowed', error: 'MethodNotAllowedError' });
  };

  const listPrompts = (query: Record<string, string>): unknown => {
    const page = parseIntParam(query.page, 'page') ?? 1;
    const limit = parseIntParam(query.limit, 'limit') ?? 10;
    if (page < 1) throw zodLike('Number must be greater than or equal to 1', ['page']);
    if (limit < 1 || limit > 100) throw zodLike('Number must be between 1 and 100', ['limit']);
    const version = parseIntParam(query.version, 'version');
    const data: Record<string, unknown>[] = [];
    for (const name of store.names()) {
      if (query.name && query.name !== name) continue;
      const matching = store
        .versions(name)
        .filter(
          (p) =>
            (version === undefined || p.version === version) &&
            (!query.label || p.labels.includes(query.label)) &&
            (!query.tag || p.tags.includes(query.tag)) &&
            (!query.fromUpdatedAt || p.updatedAt >= query.fromUpdatedAt) &&
            (!query.toUpdatedAt || p.updatedAt < query.toUpdatedAt),
        )
        .sort((a, b) => a.version - b.version);
      if (matching.length === 0) continue;
      const last = matching.reduce((a, b) => (a.version > b.version ? a : b));
      data.push({
        name,
        type: last.type,
        versions: matching.map((p) => p.version),
        labels: [...new Set(matching.flatMap((p) => p.labels))].sort(),
        tags: last.tags,
        lastUpdatedAt: matching.reduce((a, b) => (a.updatedAt > b.updatedAt ? a : b)).updatedAt,
        lastConfig: last.config,
      });
    }
    const totalItems = data.length;
    const meta = { page, limit, totalItems, totalPages: Math.ceil(totalItems / limit) };
    return { data: data.slice((page - 1) * limit, page * limit), meta, pagination: meta };
  };

  const respond = (req: http.IncomingMessage, res: http.ServerResponse, rawBody: Buffer, record: LangfuseRequestRecord, url: URL): void => {
    if (res.destroyed) return;
    try {
      const { status, body, raw } = route(req.method ?? 'GET', url.pathname, record.query, rawBody, record, req);
      if (raw) {
        res.writeHead(status, { 'content-type': raw.contentType, 'content-length': raw.data.length });
        res.end(raw.data);
      } else if (body === undefined) {
        res.writeHead(status);
        res.end();
      } else {
        sendJson(res, status, body);
      }
    } catch (err) {
      if (err instanceof HttpError) sendJson(res, err.status, err.body);
      else sendJson(res, 500, { message: 'Internal Server Error', error: err instanceof Error ? err.message : String(err) });
    }
  };

  const afterDelay = (res: http.ServerResponse, fn: () => void): void => {
    if (delayMs <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed) fn();
    }, delayMs);
    timers.add(t);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const record: LangfuseRequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: queryObject(url.searchParams),
      status: 0,
    };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    readBody(req).then(
      (rawBody) => {
        // A scoped fault hits only matching paths (e.g. the dataset APIs while prompts still answer).
        const f = faultPaths && !faultPaths.test(url.pathname) ? null : fault;
        if (f === 'reset') {
          req.socket.destroy();
          return;
        }
        if (f === 'hang') {
          const entry = {
            res,
            resume: (): void => {
              parked.delete(entry);
              afterDelay(res, () => respond(req, res, rawBody, record, url));
            },
          };
          parked.add(entry);
          res.on('close', () => parked.delete(entry));
          return;
        }
        afterDelay(res, () => {
          if (f === 'bad-json') {
            const payload = '{"id": "truncated';
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
            res.end(payload);
          } else if (f !== null) {
            sendFaultBody(res, f.status, f.body ?? { message: f.status >= 500 ? 'Internal Server Error' : `Error ${f.status}` }, f.headers);
          } else {
            respond(req, res, rawBody, record, url);
          }
        });
      },
      () => res.destroy(),
    );
  };

  const server = createStandInServer(handler);
  const port = await listen(server, options.port ?? 0, host);
  const baseUrl = `http://${host}:${port}`;

  const handle: LangfusePromptStandIn = {
    baseUrl,
    url: baseUrl,
    port,
    publicKey,
    secretKey,
    requests,
    datasets: datasetRoutes,
    get listening(): boolean {
      return server.listening;
    },
    promptFetches(label?: string, name?: string): number {
      let n = 0;
      for (const r of requests) {
        if (r.method !== 'GET' || !r.path.startsWith(PREFIX + '/') || r.promptName === undefined) continue;
        if (name !== undefined && r.promptName !== name) continue;
        if (label !== undefined) {
          const effective = r.query.label || (r.query.version ? undefined : 'production');
          if (effective !== label) continue;
        }
        n++;
      }
      return n;
    },
    setFault(f: LangfuseFault | null, scope?: { paths: RegExp }): void {
      fault = f;
      faultPaths = f === null ? undefined : scope?.paths;
      if (f !== 'hang') for (const p of [...parked]) p.resume();
    },
    setDelayMs(ms: number): void {
      delayMs = ms;
    },
    async stopListening(): Promise<void> {
      for (const p of parked) p.res.destroy();
      parked.clear();
      await closeServer(server);
    },
    async startListening(): Promise<void> {
      if (closed) throw new Error('stand-in is closed');
      if (server.listening) return;
      await listen(server, port, host);
    },
    createPrompt: (seed) => store.create(seed, 'API'),
    addLabels: (name, version, labels) => store.addLabels(name, version, labels),
    getPrompt: (name, opts) => store.find(name, opts?.label, opts?.version),
    versions: (name) => [...store.versions(name)].sort((a, b) => a.version - b.version),
    clearRequests(): void {
      requests.length = 0;
    },
    async close(): Promise<void> {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const p of parked) p.res.destroy();
      parked.clear();
      await closeServer(server);
    },
  };
  return handle;
}

// ---------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------

if (isDirectRun(import.meta.url)) {
  // No top-level await: the scores module imports this one, and a cycle through a module still
  // awaiting at top level would never settle.
  void (async () => {
    const args = parseCliArgs(process.argv.slice(2));
    const seedFile = args.get('seed');
    const prompts = seedFile ? (JSON.parse(await readFile(seedFile, 'utf8')) as LangfusePromptSeed[]) : [];
    // Standalone it plays a whole Langfuse: scores, metrics and OTLP ingestion too.
    const { createLangfuseQualityRoutes } = await import('./langfuse-quality-stand-in.js');
    await runStandalone(() =>
      startLangfusePromptStandIn({
        extraRoutes: createLangfuseQualityRoutes(),
        port: Number(args.get('port') ?? 0),
        host: args.get('host'),
        publicKey: args.get('public-key'),
        secretKey: args.get('secret-key'),
        delayMs: Number(args.get('delay-ms') ?? 0),
        datasets: args.get('run-items') === 'v4' ? 'v4' : 'v3',
        prompts,
      }),
    );
  })();
}
